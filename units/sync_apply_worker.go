package units

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/go-sql-driver/mysql"
)

// applyWorker applies the changes routed to it, in order, in target
// transactions of up to batch changes. Each transaction also moves the
// worker's mark in dmplan_meta.sync_worker from the mark it last committed
// to the seq of the transaction's last change — a compare-and-set, so a
// second run of the same subtask that got past the lock cannot commit
// over it. A crash at any instant leaves the batch and its mark both
// committed or both not (docs/units.md, "Sync").
type applyWorker struct {
	id           int
	in           chan []*syncChange
	conn         *sql.Conn
	task, source string
	mark         workerMark // last committed, the compare-and-set's old value
	batch        int
	maxTrip      int // bytes per round trip
	maxPacket    int // the target's max_allowed_packet, less some room
	done         atomic.Uint64
	stats        *syncStats
	log          *slog.Logger
	behind       *atomic.Bool // the sync unit is catching up on a backlog
	budget       *byteBudget  // released as changes commit
	valid        *validator   // nil: validation off
	wait         *time.Timer
	begin, end   string // open and commit a transaction: the fence (fence.go)

	b       stmtBuilder
	changes []*syncChange
	sqlBuf  []byte
}

// maxKeptBuffer: larger statement buffers are dropped after use.
const maxKeptBuffer = 4 << 20

// maxBatchBytes ends a batch early when its changes hold this much.
const maxBatchBytes = 8 << 20

// fillWait is how long a worker catching up waits for more changes before
// it commits a batch that is not full.
const fillWait = 2 * time.Millisecond

// errApply wraps a target error with the changes it happened in.
type errApply struct {
	err      error
	from, to syncSeq
	file     string
	what     string
}

func (e *errApply) Error() string {
	return fmt.Sprintf("apply %s (binlog %s, up to position %d): %v", e.what, e.file, e.to.Pos, e.err)
}

func (e *errApply) Unwrap() error { return e.err }

func (w *applyWorker) run(ctx context.Context) error {
	var carry []*syncChange // handed out, not yet in a batch
	for {
		in := carry
		carry = nil
		if len(in) == 0 {
			select {
			case in = <-w.in:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		clear(w.changes) // keep no committed change (nor its event's buffer) alive
		w.changes = w.changes[:0]
		var marker *syncChange
		var bytes int64
	fill:
		for {
			for i, c := range in {
				if c.kind == changeFlush {
					marker, carry = c, in[i+1:]
					break fill
				}
				w.changes = append(w.changes, c)
				bytes += c.size
				if len(w.changes) >= w.batch || bytes >= maxBatchBytes {
					carry = in[i+1:]
					break fill
				}
			}
			select {
			case in = <-w.in:
				continue
			default:
			}
			if !w.behind.Load() {
				break fill // caught up: commit at once, for the lowest lag
			}
			// Catching up: wait a moment for a fuller batch. Fewer, larger
			// target transactions cost the target less per row.
			if w.wait == nil {
				w.wait = time.NewTimer(fillWait)
			} else {
				w.wait.Reset(fillWait)
			}
			select {
			case in = <-w.in:
				w.wait.Stop()
			case <-w.wait.C:
				break fill
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if len(w.changes) > 0 {
			if err := w.commit(ctx, w.changes); err != nil {
				return err
			}
		}
		if marker != nil {
			close(marker.done)
		}
	}
}

// commit applies changes and the new mark in one target transaction.
func (w *applyWorker) commit(ctx context.Context, changes []*syncChange) error {
	w.b.reset()
	w.b.maxStmt = w.maxTrip / 2
	if err := w.b.addBatch(changes); err != nil {
		return Permanent(w.wrap(err, changes))
	}
	last := changes[len(changes)-1]
	next := workerMark{File: last.file, Pos: last.seq.Pos, Row: last.seq.Row}
	if next.seq().less(w.mark.seq()) {
		next = w.mark // changes replayed after a shard DDL lock: the mark never goes back
	}

	q := append(w.sqlBuf[:0], w.begin...)
	q = append(q, ";UPDATE dmplan_meta.sync_worker SET binlog_file="...)
	q = appendQuoted(q, next.File)
	q = append(q, ",binlog_pos="...)
	q = strconv.AppendUint(q, uint64(next.Pos), 10)
	q = append(q, ",row_idx="...)
	q = strconv.AppendUint(q, uint64(next.Row), 10)
	q = append(q, " WHERE task="...)
	q = appendQuoted(q, w.task)
	q = append(q, " AND source="...)
	q = appendQuoted(q, w.source)
	q = append(q, " AND worker="...)
	q = strconv.AppendInt(q, int64(w.id), 10)
	q = append(q, " AND binlog_file="...)
	q = appendQuoted(q, w.mark.File)
	q = append(q, " AND binlog_pos="...)
	q = strconv.AppendUint(q, uint64(w.mark.Pos), 10)
	q = append(q, " AND row_idx="...)
	q = strconv.AppendUint(q, uint64(w.mark.Row), 10)
	stmt := 0
	for trip := 0; ; trip++ {
		// Fill the round trip with whole statements.
		first := stmt
		for stmt < len(w.b.ends) {
			from, to := w.b.stmtStart(stmt), w.b.ends[stmt]
			if to-from > w.maxPacket {
				c := w.b.info[stmt]
				return Permanent(w.wrap(fmt.Errorf("a %d-byte statement for %s exceeds the target's max_allowed_packet (%d): raise it on the target",
					to-from, c.tbl.quoted, w.maxPacket), changes))
			}
			if len(q) > 0 && len(q)+to-from+1 > w.maxTrip {
				break
			}
			if len(q) > 0 {
				q = append(q, ';')
			}
			q = append(q, w.b.buf[from:to]...)
			stmt++
		}
		// The driver copies the text into its packet at once; q is not
		// touched until it returns, so it need not be copied to a string.
		affected, err := execMulti(ctx, w.conn, unsafe.String(unsafe.SliceData(q), len(q)))
		if err != nil {
			w.discard()
			return w.wrap(err, changes)
		}
		if trip == 0 {
			// begin is two statements (wait_timeout, START TRANSACTION).
			if len(affected) < 3 || affected[2] != 1 {
				w.discard()
				return w.wrap(fmt.Errorf("worker %d: its checkpoint moved since %s:%d: %w", w.id, w.mark.File, w.mark.Pos, errSuperseded), changes)
			}
			affected = affected[3:]
		}
		w.check(first, affected)
		q = q[:0]
		if stmt == len(w.b.ends) {
			break
		}
	}
	// The fence and the COMMIT in one round trip: a run that lost its
	// lock commits nothing (fence.go).
	if _, err := execMulti(ctx, w.conn, w.end); err != nil {
		w.discard()
		if err := fenceErr(err); errors.Is(err, errLockLost) {
			return fmt.Errorf("sync %s/%s worker %d: %w", w.task, w.source, w.id, err)
		}
		return w.wrap(err, changes)
	}
	w.sqlBuf = q
	if cap(w.sqlBuf) > maxKeptBuffer {
		w.sqlBuf = nil // after a batch of wide rows: do not hold its memory
	}
	if cap(w.b.buf) > maxKeptBuffer {
		w.b.buf = nil
	}
	w.mark = next
	w.done.Add(uint64(len(changes)))
	var size int64
	for _, c := range changes {
		size += c.size
	}
	w.budget.release(size)
	w.stats.rowsApplied.Add(int64(len(changes)))
	w.stats.commits.Add(1)
	if w.valid != nil {
		w.valid.add(changes)
	}
	return nil
}

// check compares the rows each statement affected with what it should
// have: a difference means the target diverged from the source (a row
// missing, or written by someone else). It is logged, not fatal.
func (w *applyWorker) check(first int, affected []int64) {
	for i, n := range affected {
		s := first + i
		if s >= len(w.b.expect) || w.b.expect[s] < 0 || w.b.expect[s] == n {
			continue
		}
		c := w.b.info[s]
		if w.stats.divergent.Add(1) <= 20 {
			w.log.Warn("target row count differs from the source's: the target has diverged",
				"table", c.tbl.quoted, "change", c.kind.String(), "binlog", c.file, "pos", c.seq.Pos,
				"want_rows", w.b.expect[s], "got_rows", n)
		}
	}
}

func (w *applyWorker) wrap(err error, changes []*syncChange) error {
	first, last := changes[0], changes[len(changes)-1]
	what := fmt.Sprintf("%d changes", len(changes))
	if len(changes) == 1 {
		what = fmt.Sprintf("%s on %s", first.kind, first.tbl.quoted)
	}
	return &errApply{err: err, from: first.seq, to: last.seq, file: last.file, what: what}
}

// discard drops the worker's connection: an open transaction on it must
// never be committed by a later user of the connection.
func (w *applyWorker) discard() {
	_ = w.conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = w.conn.Close()
	w.conn = nil
}

// execMulti runs a multi-statement text and returns the rows each
// statement affected.
func execMulti(ctx context.Context, conn *sql.Conn, q string) ([]int64, error) {
	var out []int64
	err := conn.Raw(func(dc any) error {
		ex, ok := dc.(driver.ExecerContext)
		if !ok {
			return errors.New("driver cannot execute statements directly")
		}
		res, err := ex.ExecContext(ctx, q, nil)
		if err != nil {
			return err
		}
		if r, ok := res.(mysql.Result); ok {
			out = r.AllRowsAffected()
		}
		return nil
	})
	return out, err
}

// appendQuoted appends s as a single-quoted, escaped string literal.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '\'')
	return append(appendEscaped(dst, s), '\'')
}

// syncStats are the counters the sync unit reports.
type syncStats struct {
	rowsApplied atomic.Int64
	rowsSkipped atomic.Int64
	// rowsFiltered, ddlFiltered: dropped by spec.filters (sync_filter.go)
	rowsFiltered atomic.Int64
	ddlFiltered  atomic.Int64
	events       atomic.Int64
	divergent    atomic.Int64
	commits      atomic.Int64
	started      time.Time
}
