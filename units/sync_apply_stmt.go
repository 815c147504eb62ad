package units

import (
	"fmt"
	"time"
)

// changeKind is what a syncChange does.
type changeKind uint8

const (
	changeInsert changeKind = iota
	changeUpdate
	changeDelete
	changeFlush // not a change: the worker commits what it holds and closes done
)

func (k changeKind) String() string {
	switch k {
	case changeInsert:
		return "insert"
	case changeUpdate:
		return "update"
	case changeDelete:
		return "delete"
	}
	return "flush"
}

// syncChange is one row change on its way to a worker.
type syncChange struct {
	kind   changeKind
	idem   bool // apply so that a second application changes nothing (a load window)
	noFK   bool // the source applied it with foreign_key_checks=0: so does the target
	tbl    *syncTable
	before []any // update, delete: the row before
	after  []any // insert, update: the row after
	seq    syncSeq
	file   string    // binlog file of seq
	ts     uint32    // the event's timestamp (seconds)
	recv   time.Time // when the event was read
	size   int64     // bytes held (changeBudget)
	done   chan struct{}
}

// stmtBuilder renders changes into statements for one target transaction.
// Statements are separated by ';' in one buffer (sent as multi-statement
// round trips); ends[i] is the end of statement i, expect[i] the rows it
// must affect (-1: do not check), and info[i] the change that produced it.
type stmtBuilder struct {
	buf    []byte
	ends   []int
	expect []int64
	info   []*syncChange
	// open INSERT (or REPLACE) that more rows may join
	openTbl     *syncTable
	openReplace bool
	maxStmt     int
	// reused by addBatch
	byTable map[*syncTable][]*syncChange
	order   []*syncTable
	next    map[uint64]int
}

func (b *stmtBuilder) reset() {
	clear(b.info)
	b.buf, b.ends, b.expect, b.info = b.buf[:0], b.ends[:0], b.expect[:0], b.info[:0]
	b.openTbl = nil
}

func (b *stmtBuilder) empty() bool { return len(b.ends) == 0 }

func (b *stmtBuilder) start(c *syncChange, expect int64) {
	if len(b.ends) > 0 {
		b.buf = append(b.buf, ';')
	}
	b.expect = append(b.expect, expect)
	b.info = append(b.info, c)
	b.ends = append(b.ends, 0)
	b.openTbl = nil
}

func (b *stmtBuilder) end() { b.ends[len(b.ends)-1] = len(b.buf) }

// add renders one change.
func (b *stmtBuilder) add(c *syncChange) error {
	t := c.tbl
	idem := c.idem && t.key != nil
	var err error
	switch c.kind {
	case changeInsert:
		return b.addRow(c, c.after, idem)
	case changeUpdate:
		if idem {
			if err = b.addDelete(c, c.before, -1); err != nil {
				return err
			}
			return b.addRow(c, c.after, true)
		}
		return b.addUpdate(c)
	case changeDelete:
		expect := int64(1)
		if idem {
			expect = -1
		}
		return b.addDelete(c, c.before, expect)
	}
	return fmt.Errorf("render change: unknown kind %d", c.kind)
}

// addRow appends an INSERT (or, idempotent, a REPLACE) of row, joining the
// previous statement when it inserts into the same table.
func (b *stmtBuilder) addRow(c *syncChange, row []any, replace bool) error {
	t := c.tbl
	n := len(b.ends)
	if b.openTbl == t && b.openReplace == replace && n > 0 && b.ends[n-1]-b.stmtStart(n-1) < b.maxStmt {
		b.buf = append(b.buf, ',')
		if b.expect[n-1] >= 0 {
			b.expect[n-1]++
		}
	} else {
		expect := int64(1)
		head := t.insertHead
		if replace {
			expect, head = -1, t.replaceHead
		}
		b.start(c, expect)
		b.buf = append(b.buf, head...)
	}
	b.buf = append(b.buf, '(')
	var err error
	for i, ci := range t.writable {
		if i > 0 {
			b.buf = append(b.buf, ',')
		}
		if b.buf, err = appendLiteral(b.buf, row[ci], &t.cols[ci]); err != nil {
			return fmt.Errorf("%s: %w", t.quoted, err)
		}
	}
	b.buf = append(b.buf, ')')
	b.end()
	b.openTbl, b.openReplace = t, replace
	return nil
}

func (b *stmtBuilder) stmtStart(i int) int {
	if i == 0 {
		return 0
	}
	return b.ends[i-1] + 1
}

// addUpdate appends UPDATE ... SET <changed columns> WHERE <key of before>.
func (b *stmtBuilder) addUpdate(c *syncChange) error {
	t := c.tbl
	changed := false
	for _, ci := range t.writable {
		if !valuesEqual(c.before[ci], c.after[ci]) {
			changed = true
			break
		}
	}
	if !changed {
		return nil // only generated columns differ: the target recomputes them
	}
	b.start(c, 1)
	b.buf = append(b.buf, "UPDATE "...)
	b.buf = append(b.buf, t.quoted...)
	b.buf = append(b.buf, " SET "...)
	first := true
	var err error
	for _, ci := range t.writable {
		if valuesEqual(c.before[ci], c.after[ci]) {
			continue
		}
		if !first {
			b.buf = append(b.buf, ',')
		}
		first = false
		b.buf = append(b.buf, t.cols[ci].quoted...)
		b.buf = append(b.buf, '=')
		if b.buf, err = appendLiteral(b.buf, c.after[ci], &t.cols[ci]); err != nil {
			return fmt.Errorf("%s: %w", t.quoted, err)
		}
	}
	if err := b.appendWhere(t, c.before); err != nil {
		return err
	}
	b.end()
	return nil
}

func (b *stmtBuilder) addDelete(c *syncChange, row []any, expect int64) error {
	t := c.tbl
	b.start(c, expect)
	b.buf = append(b.buf, "DELETE FROM "...)
	b.buf = append(b.buf, t.quoted...)
	if err := b.appendWhere(t, row); err != nil {
		return err
	}
	b.end()
	return nil
}

// appendWhere appends " WHERE ..." that finds row: by its key; else by a
// unique index whose values are not NULL in this row; else by every
// column (NULL-safe) with LIMIT 1 — rows equal in every column are
// interchangeable. MySQL JSON columns are left out of that last form
// (a JSON value does not compare equal to its text).
func (b *stmtBuilder) appendWhere(t *syncTable, row []any) error {
	cols, nullSafe := t.key, false
	if cols == nil {
		for _, u := range t.uniques {
			if !t.anyGenerated(u) && !anyNil(row, u) {
				cols = u
				break
			}
		}
	}
	if cols == nil {
		cols, nullSafe = t.writable, true
	}
	b.buf = append(b.buf, " WHERE "...)
	first := true
	var err error
	for _, ci := range cols {
		col := &t.cols[ci]
		if nullSafe && col.kind == kindJSON {
			continue
		}
		if !first {
			b.buf = append(b.buf, " AND "...)
		}
		first = false
		b.buf = append(b.buf, col.quoted...)
		if nullSafe {
			b.buf = append(b.buf, "<=>"...)
		} else {
			b.buf = append(b.buf, '=')
		}
		if b.buf, err = appendLiteral(b.buf, row[ci], col); err != nil {
			return fmt.Errorf("%s: %w", t.quoted, err)
		}
	}
	if first {
		b.buf = append(b.buf, "TRUE"...)
	}
	if nullSafe {
		b.buf = append(b.buf, " LIMIT 1"...)
	}
	return nil
}

func anyNil(row []any, cols []int) bool {
	for _, c := range cols {
		if row[c] == nil {
			return true
		}
	}
	return false
}
