package verify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dmplan/dmplan/units"
)

// sum is a chunk's checksum: row count and the fold of row hashes (a
// sum, or a BIT_XOR: see aggregate).
type sum struct {
	n   int64
	h   big.Int
	xor bool
}

// add folds in another side's part (merged shards).
func (s *sum) add(o sum) {
	s.n += o.n
	if o.xor {
		s.h.Xor(&s.h, &o.h)
	} else {
		s.h.Add(&s.h, &o.h)
	}
}

func (s sum) equal(o sum) bool { return s.n == o.n && s.h.Cmp(&o.h) == 0 }

// read is what one source side saw: its checksum and the binlog position
// its snapshot corresponds to.
type read struct {
	sub *subtask
	pos units.Position
}

// snapshot runs fn inside a consistent snapshot on a source connection,
// with a binlog position at or after that snapshot's: every change fn
// sees is before it. It is the position read just after the snapshot
// started (SHOW MASTER STATUS), later than the snapshot's own when
// commits happened in between, which is enough: waiting for it waits for
// everything fn sees. MariaDB's binlog_snapshot_file/position status
// variables would give the snapshot's own position, but a concurrent SHOW
// STATUS of another session can overwrite them (docs/units.md, "Why not
// lock-free"): an earlier position made a re-check read the target too
// soon (TestSnapshotPositionNotEarly).
func snapshot(ctx context.Context, s *subtask, fn func(q units.Querier, pos units.Position) error) (units.Position, error) {
	conn, err := s.src.Conn(ctx)
	if err != nil {
		return units.Position{}, fmt.Errorf("source %s: %w", s.From, err)
	}
	defer conn.Close()
	if err := session(ctx, conn); err != nil {
		return units.Position{}, fmt.Errorf("source %s: %w", s.From, err)
	}
	if _, err := conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
		return units.Position{}, fmt.Errorf("source %s: start snapshot: %w", s.From, err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	pos, err := readPosition(ctx, conn, "SHOW MASTER STATUS")
	if err != nil && !s.ck.syncing {
		// Mode full: no sync to wait for, and its user may lack BINLOG MONITOR.
		pos, err = units.Position{}, nil
	}
	if err != nil {
		return pos, fmt.Errorf("source %s: read snapshot position: %w", s.From, err)
	}
	return pos, fn(conn, pos)
}

// readPosition reads a binlog position from SHOW MASTER STATUS (one row,
// file and position first) or SHOW STATUS LIKE 'binlog_snapshot_%'
// (name/value rows). A server without a binlog has none.
func readPosition(ctx context.Context, conn *sql.Conn, query string) (units.Position, error) {
	var pos units.Position
	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		return pos, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return pos, err
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return pos, err
		}
		if len(cols) < 2 {
			continue
		}
		k, v := strings.ToLower(string(vals[0])), string(vals[1])
		switch {
		case k == "binlog_snapshot_file":
			pos.File = v
		case k == "binlog_snapshot_position":
			p, _ := strconv.ParseUint(v, 10, 32)
			pos.Pos = uint32(p)
		case !strings.HasPrefix(k, "binlog_snapshot_"): // SHOW MASTER STATUS
			p, _ := strconv.ParseUint(v, 10, 32)
			pos.File, pos.Pos = string(vals[0]), uint32(p)
		}
	}
	return pos, rows.Err()
}

// session makes values read the same on every server: timestamps in UTC.
func session(ctx context.Context, c *sql.Conn) error {
	_, err := c.ExecContext(ctx, "SET time_zone = '+00:00'")
	return err
}

// onTarget runs fn on a target connection set up like a source one.
func (r *run) onTarget(ctx context.Context, fn func(q units.Querier) error) error {
	conn, err := r.target.Conn(ctx)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer conn.Close()
	if err := session(ctx, conn); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	return fn(conn)
}

func querySum(ctx context.Context, q units.Querier, query string, args []any) (sum, error) {
	var s sum
	var h string
	if err := q.QueryRowContext(ctx, query, args...).Scan(&s.n, &h); err != nil {
		return s, err
	}
	if _, ok := s.h.SetString(h, 10); !ok {
		return s, fmt.Errorf("checksum %q is not an integer", h)
	}
	return s, nil
}

// checksums reads the chunk's checksum on every source (each in a
// snapshot) and on the target. With wait, the target is read only once
// every subtask's checkpoint has passed the position its source was read
// at; without, both sides are read at once.
func (r *run) checksums(ctx context.Context, c *chunk, wait bool) (src, tgt sum, err error) {
	where, args := c.where()
	j := c.job
	xor := r.xorFold(j)
	agg := aggregate(r.rowHash(j), xor, r.opts.Hash == HashCRC32C)
	query := func(t units.TableName) string { return checksumSQL(t.String(), agg, where) }
	var tgtErr error
	var wg sync.WaitGroup
	readTarget := func() {
		tgtErr = r.onTarget(ctx, func(q units.Querier) error {
			var err error
			tgt, err = querySum(ctx, q, query(j.target), args)
			tgt.xor = xor
			if err != nil {
				return fmt.Errorf("target: checksum %s: %w", j.target, err)
			}
			return nil
		})
	}
	if !wait {
		wg.Add(1)
		go func() { defer wg.Done(); readTarget() }()
	}
	var reads []read
	for _, s := range j.shards {
		var part sum
		pos, err := snapshot(ctx, s.sub, func(q units.Querier, _ units.Position) error {
			var err error
			part, err = querySum(ctx, q, query(s.name), args)
			part.xor = xor
			if err != nil {
				return fmt.Errorf("source %s: checksum %s: %w", s.sub.From, s.name, err)
			}
			return nil
		})
		if err != nil {
			wg.Wait()
			return src, tgt, err
		}
		src.add(part)
		reads = append(reads, read{sub: s.sub, pos: pos})
	}
	if wait {
		if err := r.waitApplied(ctx, reads); err != nil {
			return src, tgt, err
		}
		readTarget()
	}
	wg.Wait()
	return src, tgt, tgtErr
}

// waitApplied waits until every subtask's checkpoint has passed the
// position its source was read at.
func (r *run) waitApplied(ctx context.Context, reads []read) error {
	for _, rd := range reads {
		if err := rd.sub.ck.wait(ctx, rd.pos, r.opts.Wait); err != nil {
			return err
		}
	}
	return nil
}

// ErrNotCaughtUp: a subtask's checkpoint did not reach the position a
// re-check needs within Options.Wait.
var ErrNotCaughtUp = errors.New("sync checkpoint not caught up")

// checkpointWatch reads a subtask's resume point from the target, at most
// every 100 ms however many chunks wait on it.
type checkpointWatch struct {
	target       *sql.DB
	task, source string
	syncing      bool
	stalled      string // Subtask.Stalled

	mu     sync.Mutex
	at     time.Time
	resume units.Position
}

func (w *checkpointWatch) current(ctx context.Context) (units.Position, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if time.Since(w.at) < 100*time.Millisecond {
		return w.resume, nil
	}
	st, err := units.ReadSyncState(ctx, w.target, w.task, w.source)
	if err != nil {
		return units.Position{}, err
	}
	w.resume, w.at = st.Resume, time.Now()
	return w.resume, nil
}

// wait returns once every change before p is applied to the target. A
// subtask that does not sync (mode full) has nothing to wait for.
func (w *checkpointWatch) wait(ctx context.Context, p units.Position, timeout time.Duration) error {
	if !w.syncing || p.File == "" {
		return nil
	}
	deadline := time.Now().Add(timeout)
	for {
		cur, err := w.current(ctx)
		if err != nil {
			return err
		}
		if cur.File != "" && units.ComparePositions(cur, p) >= 0 {
			return nil
		}
		if w.stalled != "" {
			return fmt.Errorf("subtask %s/%s: its checkpoint is at %s:%d, before the source's position %s:%d, and its sync does not run (%s): %w; verify once it runs",
				w.task, w.source, cur.File, cur.Pos, p.File, p.Pos, w.stalled, ErrNotCaughtUp)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("subtask %s/%s: its checkpoint is at %s:%d, %v after the source was read at %s:%d (is it running? see dmplan status): %w",
				w.task, w.source, cur.File, cur.Pos, timeout, p.File, p.Pos, ErrNotCaughtUp)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// firstCheck checksums a chunk on every side at once; it reports
// whether the chunk differs (and needs recheck).
func (r *run) firstCheck(ctx context.Context, c *chunk) (bool, error) {
	src, tgt, err := r.checksums(ctx, c, false)
	if err != nil {
		return false, err
	}
	r.rows.Add(src.n)
	if src.equal(tgt) {
		return false, nil
	}
	c.job.mu.Lock()
	c.job.res.Rechecked++
	c.job.mu.Unlock()
	r.opts.Log.Debug("chunk differs", "chunk", c.String(), "source rows", src.n, "target rows", tgt.n)
	return true, nil
}

// recheck checks a differing chunk again, each time once sync has passed
// the sources' snapshot (ChunkRetries - 1 times), then row by row. A
// large integer range is halved first, and each half checked the same way.
func (r *run) recheck(ctx context.Context, c *chunk) error {
	var src, tgt sum
	for attempt := 1; attempt < r.opts.ChunkRetries; attempt++ {
		var err error
		if src, tgt, err = r.checksums(ctx, c, true); err != nil {
			return err
		}
		if src.equal(tgt) {
			return nil
		}
		r.opts.Log.Debug("chunk still differs", "chunk", c.String(), "attempt", attempt+1, "source rows", src.n, "target rows", tgt.n)
	}
	// Cut a large range down before holding its rows in memory.
	if max(src.n, tgt.n) > int64(2*r.opts.ChunkRows) {
		if a, b, ok := c.split(); ok {
			if err := r.recheck(ctx, a); err != nil {
				return err
			}
			return r.recheck(ctx, b)
		}
	}
	if c.whole {
		return r.compareWhole(ctx, c)
	}
	return r.compareRows(ctx, c)
}
