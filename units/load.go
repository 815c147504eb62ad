package units

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dmplan/dmplan/internal/retry"
	"github.com/go-sql-driver/mysql"
)

// loadSession is run on every loader connection. Foreign keys are not
// checked: chunks arrive in any order, and the source enforced them.
func loadSession(opts *DumpLoadOptions) []string {
	s := []string{
		"SET SESSION time_zone = '+00:00'",
		"SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'",
		"SET SESSION foreign_key_checks = 0",
	}
	if opts.SkipTargetBinlog {
		s = append(s, "SET SESSION sql_log_bin = 0")
	}
	return s
}

// loader writes chunks into the target on one connection.
type loader struct {
	d    *dumper
	conn *sql.Conn
}

var readerSeq atomic.Uint64

func (l *loader) connect(ctx context.Context) error {
	if l.conn != nil {
		return nil
	}
	c, err := l.d.target.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect to target: %w", err)
	}
	for _, q := range loadSession(l.d.opts) {
		if _, err := c.ExecContext(ctx, q); err != nil {
			c.Close()
			return fmt.Errorf("target session: %s: %w", q, err)
		}
	}
	l.conn = c
	return nil
}

func (l *loader) close() {
	if l.conn != nil {
		l.conn.Close()
		l.conn = nil
	}
}

// loadRetrying loads c, retrying transient errors on a new connection with
// backoff. A streamed chunk cannot be replayed: its errors end the attempt.
func (l *loader) loadRetrying(ctx context.Context, c *chunk) error {
	b := retry.New(200*time.Millisecond, 10*time.Second)
	for try := 1; ; try++ {
		err := l.load(ctx, c, try > 1)
		if err == nil {
			return nil
		}
		if c.stream != nil || !isTransient(err) || try >= l.d.opts.LoadRetries || ctx.Err() != nil {
			return err
		}
		l.d.transient(err)
		l.close()
		if err := retry.Sleep(ctx, b.NextBackOff()); err != nil {
			return err
		}
	}
}

// load writes c and marks it done in one target transaction.
func (l *loader) load(ctx context.Context, c *chunk, retry bool) error {
	if err := l.connect(ctx); err != nil {
		return err
	}
	j, cfg := c.job, l.d.cfg
	if retry { // the last COMMIT may have succeeded before the connection broke
		var done bool
		err := l.conn.QueryRowContext(ctx, `SELECT done FROM dmplan_meta.load_chunk WHERE task = ? AND source = ?
			AND src_schema = ? AND src_table = ? AND seq = ?`, cfg.Task, cfg.Source, j.src.Schema, j.src.Name, c.rec.seq).Scan(&done)
		if err != nil {
			return fmt.Errorf("load %s: %w", j, err)
		}
		if done {
			return nil
		}
	}
	fenced := l.d.opts.fence.name != ""
	if fenced { // a frozen run's open transaction goes with its session (fence.go)
		if _, err := l.conn.ExecContext(ctx, fenceTimeoutSQL()); err != nil {
			return fmt.Errorf("load %s: %w", j, err)
		}
	}
	tx, err := l.conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("load %s: %w", j, err)
	}
	defer tx.Rollback()
	var rows, bytes int64
	if c.method == MethodInsert {
		rows, bytes, err = l.insert(ctx, tx, c)
	} else {
		rows, bytes, err = l.loadData(ctx, tx, c)
	}
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE dmplan_meta.load_chunk SET done = 1, snapshot_id = ?, row_count = ?, byte_count = ?
		WHERE task = ? AND source = ? AND src_schema = ? AND src_table = ? AND seq = ? AND done = 0`,
		l.d.snapID, rows, bytes, cfg.Task, cfg.Source, j.src.Schema, j.src.Name, c.rec.seq)
	if err != nil {
		return fmt.Errorf("load %s: checkpoint: %w", j, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return Permanent(fmt.Errorf("load %s: chunk %d is already done or gone: is another dmplan running subtask %s/%s?", j, c.rec.seq, cfg.Task, cfg.Source))
	}
	commitTx := func() error { return commit(ctx, tx) }
	if fenced {
		// The fence and the COMMIT in one round trip: a run that lost its
		// lock commits nothing (fence.go). tx.Commit below is then a no-op.
		if _, err := tx.ExecContext(ctx, l.d.opts.fence.assertSQL()+";COMMIT"); err != nil {
			if err := fenceErr(err); errors.Is(err, errLockLost) {
				return fmt.Errorf("load %s: %w", j, err)
			}
			return fmt.Errorf("load %s: commit: %w", j, err)
		}
		commitTx = tx.Commit // the COMMIT ran above, under ctx
	}
	if err := commitTx(); err != nil {
		return fmt.Errorf("load %s: commit: %w", j, err)
	}
	if fenced {
		if _, err := l.conn.ExecContext(ctx, "SET SESSION wait_timeout=DEFAULT"); err != nil {
			l.close() // the chunk is committed; the next one takes a new connection
		}
	}
	c.rows, c.bytes = rows, bytes
	return nil
}

func (l *loader) insert(ctx context.Context, tx *sql.Tx, c *chunk) (rows, bytes int64, err error) {
	exec := func(p part) error {
		if _, err := tx.ExecContext(ctx, string(p.data)); err != nil {
			return l.wrap(c, err)
		}
		if err := l.checkWarnings(ctx, tx, c); err != nil { // @@warning_count is per statement
			return err
		}
		rows += int64(p.rows)
		bytes += int64(len(p.data))
		return nil
	}
	if c.stream == nil {
		for _, p := range c.parts {
			if err := exec(p); err != nil {
				return 0, 0, err
			}
		}
		return rows, bytes, nil
	}
	for {
		select {
		case p, ok := <-c.stream:
			if !ok {
				return rows, bytes, nil
			}
			if err := exec(p); err != nil {
				return 0, 0, err
			}
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
	}
}

func (l *loader) loadData(ctx context.Context, tx *sql.Tx, c *chunk) (rows, bytes int64, err error) {
	name := "dmplan-" + strconv.FormatUint(readerSeq.Add(1), 10)
	pr := &partReader{ctx: ctx, parts: c.parts, stream: c.stream}
	mysql.RegisterReaderHandler(name, func() io.Reader { return pr })
	defer mysql.DeregisterReaderHandler(name)
	res, err := tx.ExecContext(ctx, loadDataSQL(c.job, name))
	if err != nil {
		return 0, 0, l.wrap(c, err)
	}
	if pr.err != nil {
		return 0, 0, pr.err
	}
	if err := l.checkWarnings(ctx, tx, c); err != nil { // first: they say why rows were skipped
		return 0, 0, err
	}
	if !c.job.replace {
		if n, _ := res.RowsAffected(); n != pr.rows {
			return 0, 0, Permanent(fmt.Errorf("load %s into %s: the target took %d of %d rows", c.job, c.job.dst, n, pr.rows))
		}
	}
	return pr.rows, pr.bytes, nil
}

// checkWarnings turns the warnings of the statement just run into a
// permanent error naming the table; a connection lost while asking (the
// target restarting) stays transient, so the chunk is retried.
func (l *loader) checkWarnings(ctx context.Context, tx *sql.Tx, c *chunk) error {
	err := checkWarnings(ctx, tx)
	switch {
	case err == nil:
		return nil
	case isTransient(err):
		return l.wrap(c, err)
	}
	return Permanent(fmt.Errorf("load %s into %s: %w", c.job, c.job.dst, err))
}

// wrap names the table in a load error and says what to do about the
// permanent ones.
func (l *loader) wrap(c *chunk, err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) && !isTransient(err) {
		return Permanent(fmt.Errorf("load %s into %s (chunk %d): %w: check that the target table matches the source's definition "+
			"(with routes merging shards, that their keys do not collide)", c.job, c.job.dst, c.rec.seq, err))
	}
	return fmt.Errorf("load %s into %s: %w", c.job, c.job.dst, err)
}

// loadDataSQL is the LOAD DATA statement for j's rows streamed from the
// registered reader name.
func loadDataSQL(j *tableJob, name string) string {
	var b strings.Builder
	b.WriteString("LOAD DATA LOCAL INFILE 'Reader::" + name + "' ")
	if j.replace {
		b.WriteString("REPLACE ")
	}
	charset := "utf8mb4"
	if j.loadBinary {
		charset = "binary"
	}
	b.WriteString("INTO TABLE " + j.dst.String() +
		" CHARACTER SET " + charset + " FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (")
	var set []string
	for i, c := range j.cols {
		if i > 0 {
			b.WriteString(", ")
		}
		switch j.kinds[i] {
		case vkBinary:
			v := "@v" + strconv.Itoa(i)
			b.WriteString(v)
			set = append(set, QuoteIdent(c.Name)+" = UNHEX("+v+")")
		case vkBit:
			v := "@v" + strconv.Itoa(i)
			b.WriteString(v)
			set = append(set, QuoteIdent(c.Name)+" = CAST("+v+" AS UNSIGNED)")
		default:
			b.WriteString(QuoteIdent(c.Name))
		}
	}
	b.WriteString(")")
	if len(set) > 0 {
		b.WriteString(" SET " + strings.Join(set, ", "))
	}
	return b.String()
}

// checkWarnings fails when the last statement left warnings: LOAD DATA
// LOCAL turns errors (duplicate keys, truncation) into warnings.
func checkWarnings(ctx context.Context, tx *sql.Tx) error {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT @@warning_count").Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	rows, err := tx.QueryContext(ctx, "SHOW WARNINGS LIMIT 3")
	if err != nil {
		return fmt.Errorf("%d warnings", n)
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var level, msg string
		var code int
		if rows.Scan(&level, &code, &msg) == nil {
			msgs = append(msgs, fmt.Sprintf("%s %d: %s", level, code, msg))
		}
	}
	err = fmt.Errorf("%d warnings, the first: %s", n, strings.Join(msgs, "; "))
	if strings.Contains(err.Error(), " 1062: ") {
		err = fmt.Errorf("%w: the target table already holds rows with these keys: empty it "+
			"(with routes merging shards: give the target table a key their rows do not collide on) and resume", err)
	}
	return err
}

// partReader is the io.Reader LOAD DATA LOCAL streams from.
type partReader struct {
	ctx    context.Context
	parts  []part
	stream chan part
	cur    []byte
	rows   int64
	bytes  int64
	err    error
}

func (r *partReader) Read(b []byte) (int, error) {
	for len(r.cur) == 0 {
		if !r.next() {
			if r.err != nil {
				return 0, r.err
			}
			return 0, io.EOF
		}
	}
	n := copy(b, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

func (r *partReader) next() bool {
	var p part
	if r.stream == nil {
		if len(r.parts) == 0 {
			return false
		}
		p, r.parts = r.parts[0], r.parts[1:]
	} else {
		var ok bool
		select {
		case p, ok = <-r.stream:
			if !ok {
				return false
			}
		case <-r.ctx.Done():
			r.err = r.ctx.Err()
			return false
		}
	}
	r.cur = p.data
	r.rows += int64(p.rows)
	r.bytes += int64(len(p.data))
	return true
}
