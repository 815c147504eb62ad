package units

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestSyncRefusesInexactChanges: a change the binlog does not carry as a
// full row image — a statement logged by a session with
// binlog_format=STATEMENT, or a row logged with binlog_row_image=MINIMAL —
// cannot be applied exactly. Sync stops before it with a permanent error
// naming the table and saying how to go on, instead of skipping it.
func TestSyncRefusesInexactChanges(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	syExec(t, p.srcDB, "CREATE DATABASE ix", "CREATE TABLE ix.t (id INT PRIMARY KEY, v VARCHAR(20))", "INSERT INTO ix.t VALUES (1, 'a')")
	syCopySchema(t, p, "ix", "t")
	syExec(t, p.dstDB, "INSERT INTO ix.t VALUES (1, 'a')")
	for _, c := range []struct{ name, session, change, want string }{
		{"statement", "SET SESSION binlog_format = 'STATEMENT'", "INSERT INTO ix.t VALUES (2, 'b')", "statement-based change of `ix`.`t`"},
		{"minimal", "SET SESSION binlog_row_image = 'MINIMAL'", "UPDATE ix.t SET v = 'c' WHERE id = 1", "row image is not full"},
	} {
		cfg := p.config("inexact-"+c.name, ModeIncremental, []string{"ix.*"})
		cfg.Start = syMasterPos(t, p)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		conn, err := p.srcDB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// The session's settings go back to the defaults before the
		// connection goes back to the pool.
		for _, q := range []string{c.session, c.change, "SET SESSION binlog_format = 'ROW', binlog_row_image = 'FULL'"} {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		conn.Close()
		err = Run(ctx, cfg, nil, syLog(t))
		cancel()
		if !errors.Is(err, ErrPermanent) {
			t.Fatalf("%s: Run returned %v, want a permanent error", c.name, err)
		}
		for _, want := range []string{c.want, "leave `ix`.`t` out of spec.tables", "--fix-sql"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: the error does not say %q: %v", c.name, want, err)
			}
		}
	}
	// Nothing of either change reached the target.
	syExec(t, p.srcDB, "DELETE FROM ix.t WHERE id = 2", "UPDATE ix.t SET v = 'a' WHERE id = 1")
	if got := syRows(t, p.dstDB, "ix.t"); len(got) != 1 {
		t.Errorf("target rows %v, want only the first", got)
	}
}
