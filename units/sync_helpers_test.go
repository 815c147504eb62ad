package units

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/mariadbtest"
)

// syPair is a source (binlog on) and a target for sync tests.
type syPair struct {
	src, dst     *mariadbtest.Server
	srcDB, dstDB *sql.DB
}

func newSyPair(t testing.TB) *syPair {
	t.Helper()
	p := &syPair{src: syServer(t, mariadbtest.Options{}), dst: syServer(t, mariadbtest.Options{NoBinlog: true})}
	var err error
	if p.srcDB, err = p.src.DB(""); err != nil {
		t.Fatal(err)
	}
	if p.dstDB, err = p.dst.DB(""); err != nil {
		t.Fatal(err)
	}
	p.srcDB.SetMaxIdleConns(8)
	t.Cleanup(func() { p.srcDB.Close(); p.dstDB.Close() })
	return p
}

// syServer starts a server for the test, trying twice: an initialisation
// that fails under load is retried once, with its error log shown.
func syServer(t testing.TB, opts mariadbtest.Options) *mariadbtest.Server {
	t.Helper()
	if !mariadbtest.Available() && os.Getenv("DMPLAN_SKIP_MARIADB") == "1" {
		t.Skip("MariaDB not installed and DMPLAN_SKIP_MARIADB=1")
	}
	for try := 0; ; try++ {
		dir := t.TempDir()
		o, err := mariadbtest.PrivateTmpdir(opts, filepath.Join(dir, "tmp"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := mariadbtest.Start(context.Background(), dir, o)
		if err == nil {
			t.Cleanup(func() { _ = s.Stop() })
			return s
		}
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		if try == 1 {
			t.Fatalf("%v\nerror.log:\n%s", err, b)
		}
		t.Logf("server start failed, retrying: %v\nerror.log:\n%s", err, b)
	}
}

func syEndpoint(s *mariadbtest.Server) Endpoint {
	return Endpoint{Host: "127.0.0.1", Port: s.Port, User: "root"}
}

func (p *syPair) config(task string, mode Mode, tables []string, routes ...Route) Config {
	return Config{Task: task, Source: "src", Mode: mode, From: syEndpoint(p.src), To: syEndpoint(p.dst),
		Tables: tables, Routes: routes, SyncWorkers: 4, SyncBatch: 50, DumpThreads: 2}
}

func syExec(t testing.TB, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%.200s: %v", q, err)
		}
	}
}

// syLog logs to the test until it ends, and to also when not nil.
func syLog(t testing.TB, also ...io.Writer) *slog.Logger {
	w := &syTestWriter{t: t, also: also}
	t.Cleanup(func() { w.done.Store(true) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type syTestWriter struct {
	t    testing.TB
	also []io.Writer
	done atomic.Bool
	mu   sync.Mutex
}

func (w *syTestWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done.Load() {
		w.t.Log(strings.TrimSpace(string(b)))
	}
	for _, a := range w.also {
		a.Write(b)
	}
	return len(b), nil
}

// syRunning is a Run in a goroutine.
type syRunning struct {
	cancel context.CancelFunc
	done   chan error
	last   atomic.Pointer[Progress]
	errs   atomic.Int64
}

// syWaitReport polls r's last report until ok holds and returns it;
// after timeout it fails, saying what was waited for.
func syWaitReport(t testing.TB, r *syRunning, timeout time.Duration, what string, ok func(*Progress) bool) *Progress {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; {
		if pr := r.last.Load(); pr != nil && ok(pr) {
			return pr
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (last report: %+v)", what, timeout, r.last.Load())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func syStart(t testing.TB, cfg Config, log *slog.Logger) *syRunning {
	ctx, cancel := context.WithCancel(context.Background())
	r := &syRunning{cancel: cancel, done: make(chan error, 1)}
	go func() {
		r.done <- Run(ctx, cfg, ReporterFunc(func(p Progress) {
			r.last.Store(&p)
			if p.Err != "" {
				r.errs.Add(1)
			}
		}), log)
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// stop cancels the run and returns its error (context.Canceled when it
// stopped because of the cancel).
func (r *syRunning) stop(t testing.TB) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop within 30 s of its cancel")
		return nil
	}
}

// syRows returns every row of a table as text, sorted.
func syRows(t testing.TB, db *sql.DB, table string) []string {
	t.Helper()
	out, err := syRowsErr(db, table)
	if err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	return out
}

func syRowsErr(db *sql.DB, table string) ([]string, error) {
	rows, err := db.Query("SELECT * FROM " + table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out []string
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		var b strings.Builder
		for i, v := range vals {
			if i > 0 {
				b.WriteString(" | ")
			}
			if v == nil {
				b.WriteString("NULL")
			} else {
				fmt.Fprintf(&b, "%q", v)
			}
		}
		out = append(out, b.String())
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}

// syWaitSame waits until each target table holds exactly the rows of its
// source tables (several for merged shards): pairs are "target=src1,src2".
func syWaitSame(t testing.TB, p *syPair, timeout time.Duration, pairs ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		diff := ""
		for _, pair := range pairs {
			dst, srcs, _ := strings.Cut(pair, "=")
			var want []string
			for _, s := range strings.Split(srcs, ",") {
				want = append(want, syRows(t, p.srcDB, s)...)
			}
			slices.Sort(want)
			got, _ := syRowsErr(p.dstDB, dst)
			if !slices.Equal(want, got) {
				diff = syDiff(dst, want, got)
				break
			}
		}
		if diff == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("target differs from source after %v:\n%s", timeout, diff)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func syDiff(table string, want, got []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table %s: source has %d rows, target %d\n", table, len(want), len(got))
	// Sets, not slices.Contains: a diff of 200,000 rows taken in the
	// middle of a load ran for most of a minute, past the caller's deadline.
	list := func(what string, rows []string, other []string) {
		in := make(map[string]bool, len(other))
		for _, o := range other {
			in[o] = true
		}
		n := 0
		for _, r := range rows {
			if n == 5 {
				return
			}
			if !in[r] {
				fmt.Fprintf(&b, "  %s %s\n", what, r)
				n++
			}
		}
	}
	list("missing on target:", want, got)
	list("extra on target:  ", got, want)
	return b.String()
}

// syCopySchema creates the source's tables on the target as they are.
func syCopySchema(t testing.TB, p *syPair, db string, tables ...string) {
	t.Helper()
	syExec(t, p.dstDB, "CREATE DATABASE IF NOT EXISTS "+QuoteIdent(db))
	for _, tb := range tables {
		var name, ddl string
		if err := p.srcDB.QueryRow("SHOW CREATE TABLE "+quoteTable(db, tb)).Scan(&name, &ddl); err != nil {
			t.Fatal(err)
		}
		c, err := p.dstDB.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ExecContext(context.Background(), "USE "+QuoteIdent(db)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ExecContext(context.Background(), ddl); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
}

// syWaitCaughtUp waits until the run's sync unit reports a position at or
// after the source's current one. Only sync's report counts: dump and load
// report the snapshot's position while they copy, and that position is the
// source's current one when nothing was written since.
func syWaitCaughtUp(t testing.TB, p *syPair, r *syRunning, timeout time.Duration) {
	t.Helper()
	var file string
	var pos uint32
	var a, b any
	if err := p.srcDB.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &a, &b); err != nil {
		t.Fatal(err)
	}
	target := Position{File: file, Pos: pos}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if pr := r.last.Load(); pr != nil && (pr.Unit == "sync" || pr.Finished) && pr.Position.File != "" && ComparePositions(pr.Position, target) >= 0 {
			return
		}
		select {
		case err := <-r.done:
			r.done <- err
			t.Fatalf("Run ended: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	pr := r.last.Load()
	t.Fatalf("sync did not reach %s:%d within %v (last progress %+v)", file, pos, timeout, pr)
}
