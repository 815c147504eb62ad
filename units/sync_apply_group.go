package units

import (
	"fmt"
	"slices"
	"strconv"
)

// A worker's batch is one target transaction, so the order of its
// statements is free as long as every row ends as the binlog says. For a
// table whose only unique index is its key, changes to different keys
// commute: the batch is cut into rounds (the n-th change of each key goes
// to round n) and each round becomes a few statements — one DELETE ...
// IN (...) for its deletes, one multi-table UPDATE per set of changed
// columns, one multi-row INSERT — instead of one statement per change.
// Statement parsing is what the target spends most on; this roughly halves
// its work on sysbench-like traffic (bench/synccatchup). Tables with other
// unique indexes, without a key, or in a load window keep one statement
// per change in binlog order. Triggers still fire once per row and in
// order per row; their order across rows of one table may differ from
// the source's.

// maxGroupRows caps the rows of one grouped statement.
const maxGroupRows = 500

// addBatch renders a worker's batch.
func (b *stmtBuilder) addBatch(changes []*syncChange) error {
	if b.byTable == nil {
		b.byTable, b.next = map[*syncTable][]*syncChange{}, map[uint64]int{}
	}
	order := b.order[:0]
	var fk []*syncChange
	for _, c := range changes {
		if c.tbl.fkGroup != "" {
			fk = append(fk, c)
			continue
		}
		cs := b.byTable[c.tbl]
		if len(cs) == 0 {
			order = append(order, c.tbl)
		}
		b.byTable[c.tbl] = append(cs, c)
	}
	b.order = order
	defer func() {
		for _, t := range order {
			clear(b.byTable[t])
			b.byTable[t] = b.byTable[t][:0]
		}
		clear(b.order)
		if len(b.byTable) > 64 {
			clear(b.byTable)
		}
	}()
	rendered := 0
	for _, t := range order {
		cs := b.byTable[t]
		rendered += len(cs)
		if !groupable(t, cs) {
			for _, c := range cs {
				if err := b.add(c); err != nil {
					return err
				}
			}
			continue
		}
		if err := b.addRounds(t, cs); err != nil {
			return err
		}
	}
	if err := b.addForeignKeyed(fk); err != nil {
		return err
	}
	rendered += len(fk)
	if rendered != len(changes) {
		return fmt.Errorf("internal error: %d of %d changes rendered", rendered, len(changes))
	}
	return nil
}

// addForeignKeyed renders the changes of tables in a cascading foreign-key
// group (fk.go) one statement each, in binlog order across the group's
// tables, with foreign_key_checks=1 so that the target cascades as the
// source did — except for changes the source made with the checks off,
// and for the REPLACE of an idempotent change (a load window), whose
// implicit delete must not cascade. The session goes back to
// foreign_key_checks=0 at the end.
//
// An idempotent update of a keyed table first runs as UPDATE IGNORE with
// the checks on (so that ON UPDATE actions cascade; it changes nothing
// when the row is not there in its old version), then in the idempotent
// form with the checks off (delete the old key, REPLACE the new row).
func (b *stmtBuilder) addForeignKeyed(cs []*syncChange) error {
	checks := false
	set := func(c *syncChange, want bool) {
		if want != checks {
			b.addRaw(c, fkChecksStmt[want])
			checks = want
		}
	}
	for _, c := range cs {
		if c.idem && c.kind == changeUpdate && c.tbl.key != nil && !c.noFK {
			set(c, true)
			n := len(b.ends)
			if err := b.addUpdate(c); err != nil {
				return err
			}
			if len(b.ends) > n {
				at := b.stmtStart(n) + len("UPDATE ")
				b.buf = slices.Insert(b.buf, at, []byte("IGNORE ")...)
				b.ends[n] += len("IGNORE ")
				b.expect[n] = -1
			}
		}
		set(c, !c.noFK && !(c.idem && c.kind != changeDelete))
		if err := b.add(c); err != nil {
			return err
		}
	}
	if checks {
		b.addRaw(cs[len(cs)-1], fkChecksStmt[false])
	}
	return nil
}

var fkChecksStmt = map[bool]string{true: "SET foreign_key_checks=1", false: "SET foreign_key_checks=0"}

// addRaw appends a statement whose row count is not checked.
func (b *stmtBuilder) addRaw(c *syncChange, stmt string) {
	b.start(c, -1)
	b.buf = append(b.buf, stmt...)
	b.end()
}

// groupable: the table's rows are independent of each other (one unique
// index, its key) and no change needs the idempotent form.
func groupable(t *syncTable, cs []*syncChange) bool {
	if len(cs) < 2 || t.key == nil || len(t.uniques) != 1 {
		return false
	}
	for _, c := range cs {
		if c.idem {
			return false
		}
	}
	return true
}

// addRounds renders the changes of one groupable table, round by round.
func (b *stmtBuilder) addRounds(t *syncTable, cs []*syncChange) error {
	next := b.next
	clear(next)
	var rounds [][]*syncChange
	for _, c := range cs {
		r := 0
		var keys [2]uint64
		n := 0
		for _, row := range [][]any{c.before, c.after} {
			if row != nil {
				keys[n] = routeHash(t, row)
				r = max(r, next[keys[n]])
				n++
			}
		}
		for _, k := range keys[:n] {
			next[k] = r + 1
		}
		for len(rounds) <= r {
			rounds = append(rounds, nil)
		}
		rounds[r] = append(rounds[r], c)
	}
	for _, round := range rounds {
		if err := b.addRound(t, round); err != nil {
			return err
		}
	}
	return nil
}

// addRound renders changes to distinct keys: deletes, updates, inserts.
func (b *stmtBuilder) addRound(t *syncTable, round []*syncChange) error {
	var dels, ups []*syncChange
	for _, c := range round {
		switch c.kind {
		case changeDelete:
			dels = append(dels, c)
		case changeUpdate:
			ups = append(ups, c)
		}
	}
	if err := b.addDeletes(t, dels); err != nil {
		return err
	}
	if err := b.addUpdates(t, ups); err != nil {
		return err
	}
	for _, c := range round {
		if c.kind == changeInsert {
			if err := b.addRow(c, c.after, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// addDeletes renders DELETE ... WHERE key IN (...) for a one-column key.
func (b *stmtBuilder) addDeletes(t *syncTable, dels []*syncChange) error {
	if len(dels) < 2 || len(t.key) != 1 {
		for _, c := range dels {
			if err := b.addDelete(c, c.before, 1); err != nil {
				return err
			}
		}
		return nil
	}
	k := t.key[0]
	for len(dels) > 0 {
		part := dels[:min(len(dels), maxGroupRows)]
		dels = dels[len(part):]
		b.start(part[0], int64(len(part)))
		b.buf = append(b.buf, "DELETE FROM "...)
		b.buf = append(b.buf, t.quoted...)
		b.buf = append(b.buf, " WHERE "...)
		b.buf = append(b.buf, t.cols[k].quoted...)
		b.buf = append(b.buf, " IN ("...)
		var err error
		for i, c := range part {
			if i > 0 {
				b.buf = append(b.buf, ',')
			}
			if b.buf, err = appendLiteral(b.buf, c.before[k], &t.cols[k]); err != nil {
				return fmt.Errorf("%s: %w", t.quoted, err)
			}
		}
		b.buf = append(b.buf, ')')
		b.end()
	}
	return nil
}

// addUpdates renders updates that change the same columns (and not the
// key) of a table with a one-column key as one UPDATE; others one by one.
func (b *stmtBuilder) addUpdates(t *syncTable, ups []*syncChange) error {
	oneCol := len(t.key) == 1
	groups := map[string][]*syncChange{}
	var order []string
	for _, c := range ups {
		sig, keyChanged := changedColumns(t, c)
		if !oneCol || keyChanged || sig == "" {
			if err := b.add(c); err != nil {
				return err
			}
			continue
		}
		if _, ok := groups[sig]; !ok {
			order = append(order, sig)
		}
		groups[sig] = append(groups[sig], c)
	}
	for _, sig := range order {
		g := groups[sig]
		for len(g) > 0 {
			part := g[:min(len(g), maxGroupRows)]
			g = g[len(part):]
			if len(part) == 1 {
				if err := b.add(part[0]); err != nil {
					return err
				}
				continue
			}
			if err := b.addCaseUpdate(t, part); err != nil {
				return err
			}
		}
	}
	return nil
}

// changedColumns is the signature of the writable columns an update
// changes, and whether the key is among them.
func changedColumns(t *syncTable, c *syncChange) (string, bool) {
	var sig []byte
	keyChanged := false
	for _, ci := range t.writable {
		if valuesEqual(c.before[ci], c.after[ci]) {
			continue
		}
		sig = strconv.AppendInt(sig, int64(ci), 10)
		sig = append(sig, ',')
		for _, k := range t.key {
			if k == ci {
				keyChanged = true
			}
		}
	}
	return string(sig), keyChanged
}

// addCaseUpdate renders
//
//	UPDATE t SET `c` = CASE `id` WHEN k1 THEN v1 WHEN k2 THEN v2 END WHERE `id` IN (k1, k2)
//
// The key column compares with the literals under its own collation, by
// its index, as in a single-row UPDATE.
func (b *stmtBuilder) addCaseUpdate(t *syncTable, part []*syncChange) error {
	k := t.key[0]
	kc := &t.cols[k]
	var cols []int
	for _, ci := range t.writable {
		if !valuesEqual(part[0].before[ci], part[0].after[ci]) {
			cols = append(cols, ci)
		}
	}
	b.start(part[0], int64(len(part)))
	b.buf = append(b.buf, "UPDATE "...)
	b.buf = append(b.buf, t.quoted...)
	b.buf = append(b.buf, " SET "...)
	var err error
	for i, ci := range cols {
		if i > 0 {
			b.buf = append(b.buf, ',')
		}
		b.buf = append(b.buf, t.cols[ci].quoted...)
		b.buf = append(b.buf, "=CASE "...)
		b.buf = append(b.buf, kc.quoted...)
		for _, c := range part {
			b.buf = append(b.buf, " WHEN "...)
			if b.buf, err = appendLiteral(b.buf, c.before[k], kc); err != nil {
				return fmt.Errorf("%s: %w", t.quoted, err)
			}
			b.buf = append(b.buf, " THEN "...)
			if b.buf, err = appendLiteral(b.buf, c.after[ci], &t.cols[ci]); err != nil {
				return fmt.Errorf("%s: %w", t.quoted, err)
			}
		}
		b.buf = append(b.buf, " END"...)
	}
	b.buf = append(b.buf, " WHERE "...)
	b.buf = append(b.buf, kc.quoted...)
	b.buf = append(b.buf, " IN ("...)
	for i, c := range part {
		if i > 0 {
			b.buf = append(b.buf, ',')
		}
		if b.buf, err = appendLiteral(b.buf, c.before[k], kc); err != nil {
			return fmt.Errorf("%s: %w", t.quoted, err)
		}
	}
	b.buf = append(b.buf, ')')
	b.end()
	return nil
}
