package units

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/mariadbtest"
)

// dlPair is a source (binlog on) and a target (binlog off) for dump/load tests.
type dlPair struct {
	src, dst     *mariadbtest.Server
	srcDB, dstDB *sql.DB
}

func newDLPair(t testing.TB) *dlPair {
	t.Helper()
	p := &dlPair{}
	// Start both servers at once: each takes about 2 s to initialise.
	dstDir := t.TempDir()
	var dstErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.dst, dstErr = mariadbtest.Start(context.Background(), dstDir, dlOptions(t, mariadbtest.Options{NoBinlog: true}))
	}()
	p.src = mariadbtest.New(t, dlOptions(t, mariadbtest.Options{}))
	<-done
	if dstErr != nil {
		t.Fatal(dstErr)
	}
	t.Cleanup(func() { _ = p.dst.Stop() })
	var err error
	if p.srcDB, err = p.src.DB(""); err != nil {
		t.Fatal(err)
	}
	if p.dstDB, err = p.dst.DB(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.srcDB.Close(); p.dstDB.Close() })
	return p
}

// dlOptions gives a test server its own tmpdir (see PrivateTmpdir).
func dlOptions(t testing.TB, o mariadbtest.Options) mariadbtest.Options {
	o, err := mariadbtest.PrivateTmpdir(o, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func dlEndpoint(s *mariadbtest.Server) Endpoint {
	return Endpoint{Host: "127.0.0.1", Port: s.Port, User: "root"}
}

func (p *dlPair) config(task string, tables []string, routes ...Route) Config {
	return Config{Task: task, Source: "src", Mode: ModeFull, From: dlEndpoint(p.src), To: dlEndpoint(p.dst),
		Tables: tables, Routes: routes, DumpThreads: 3}
}

func dlExec(t testing.TB, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func dlLog(t testing.TB) *slog.Logger {
	if os.Getenv("DMPLAN_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// dlRows returns a table's rows, each rendered exactly (hex of the raw
// bytes, NULL distinct from empty), sorted. Generated columns included.
func dlRows(t testing.TB, db *sql.DB, table string, cols string) []string {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "SET time_zone = '+00:00'"); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.QueryContext(context.Background(), "SELECT "+cols+" FROM "+table)
	if err != nil {
		t.Fatalf("select from %s: %v", table, err)
	}
	defer rows.Close()
	names, _ := rows.Columns()
	vals := make([]sql.RawBytes, len(names))
	ptrs := make([]any, len(names))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out []string
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, v := range vals {
			if v == nil {
				b.WriteString("NULL|")
			} else {
				b.WriteString(hex.EncodeToString(v) + "|")
			}
		}
		out = append(out, b.String())
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// dlDigest is a table's row count and a hash of its sorted rows.
func dlDigest(t testing.TB, db *sql.DB, table string) string {
	rows := dlRows(t, db, table, "*")
	h := sha256.New()
	for _, r := range rows {
		h.Write([]byte(r))
		h.Write([]byte{'\n'})
	}
	return fmt.Sprintf("%d rows %x", len(rows), h.Sum(nil)[:8])
}

// dlSame fails unless every table exists on both sides with the same rows.
func dlSame(t testing.TB, p *dlPair, tables ...string) {
	t.Helper()
	for _, tb := range tables {
		if a, b := dlDigest(t, p.srcDB, tb), dlDigest(t, p.dstDB, tb); a != b {
			t.Errorf("%s: source %s, target %s", tb, a, b)
		}
	}
}

func dlRun(t testing.TB, cfg Config, opts DumpLoadOptions) Position {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pos, err := DumpLoadWith(ctx, cfg, opts, nil, dlLog(t))
	if err != nil {
		t.Fatalf("DumpLoad: %v", err)
	}
	return pos
}
