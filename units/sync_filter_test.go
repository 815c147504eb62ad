package units

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/binlogfilter"
)

// TestSyncFilterEvents: every event kind of spec.filters on real MariaDB,
// while a writer changes other tables of the task. DML tables are checked
// against mirrors in a database the task does not select, which got the
// same statements less the ones the rules drop; DDL by what the target's
// catalogue holds; the error action by the error Run returns.
func TestSyncFilterEvents(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	start := syAuditSetup(t, p)
	rule := func(tables, events, sql []string, a binlogfilter.Action) binlogfilter.Rule {
		return binlogfilter.Rule{Tables: tables, Events: events, SQL: sql, Action: a}
	}
	one := func(s ...string) []string { return s }
	cfg := p.config("filt", ModeIncremental, []string{"c.acct", "c.nokey", "c.uk", "f.*", "g*.*"})
	cfg.Start = start
	cfg.Filters = []binlogfilter.Rule{
		rule(one("f.nodel"), one("delete"), nil, binlogfilter.Ignore),
		rule(one("f.noupd"), one("update"), nil, binlogfilter.Ignore),
		rule(one("f.noins"), one("insert"), nil, binlogfilter.Ignore),
		rule(one("f.keep"), one("truncate table", "drop table", "drop index"), nil, binlogfilter.Ignore),
		rule(one("f.doins"), one("insert", "create table"), nil, binlogfilter.Do),
		rule(one("f.ren*"), one("rename table"), nil, binlogfilter.Ignore),
		rule(one("f.alt"), nil, one(`(?i)ADD\s+INDEX`), binlogfilter.Ignore),
		rule(one("f.idx"), one("create index"), nil, binlogfilter.Ignore),
		rule(one("gdrop.*"), one("drop database"), nil, binlogfilter.Ignore),
		rule(one("gnew.*"), one("create database"), nil, binlogfilter.Ignore),
		rule(one("f.stop"), one("delete"), nil, binlogfilter.Error),
		rule(one("f.arch"), nil, one(`(?i)DROP\s+COLUMN`), binlogfilter.Ignore),
	}
	mk := func(db, tb string) string {
		return fmt.Sprintf("CREATE TABLE %s.%s (id INT PRIMARY KEY, v INT NOT NULL)", db, tb)
	}
	syExec(t, p.srcDB, "CREATE DATABASE f", "CREATE DATABASE x", "CREATE DATABASE gdrop",
		"CREATE TABLE gdrop.t (id INT PRIMARY KEY)", "INSERT INTO gdrop.t VALUES (1)")
	for _, tb := range []string{"nodel", "noupd", "noins", "keep", "doins", "ren1", "alt", "idx", "stop"} {
		syExec(t, p.srcDB, mk("f", tb), mk("x", tb))
	}

	syExec(t, p.srcDB, "CREATE TABLE f.arch (id INT PRIMARY KEY, v INT NOT NULL DEFAULT 0, n INT NOT NULL)",
		"CREATE TABLE x.arch (id INT PRIMARY KEY, v INT NOT NULL DEFAULT 0, n INT NOT NULL)",
		"INSERT INTO f.arch VALUES (1, 10, 1), (2, 20, 2), (3, 30, 3)", "INSERT INTO x.arch VALUES (1, 10, 1), (2, 20, 2), (3, 30, 3)")
	log := syLog(t)
	r := syStart(t, cfg, log)
	w := syStartWriter(t, p.srcDB, 11)
	both := func(tb string, q string) { // q has %s for the database
		syExec(t, p.srcDB, fmt.Sprintf(q, "f"), fmt.Sprintf(q, "x"))
	}
	srcOnly := func(tb string, q string) { syExec(t, p.srcDB, fmt.Sprintf(q, "f")) }
	for i := 1; i <= 30; i++ {
		ins := fmt.Sprintf("INSERT INTO %%s.%%s VALUES (%d, %d)", i, i)
		upd := fmt.Sprintf("UPDATE %%s.%%s SET v = v + 100 WHERE id = %d", i-1)
		del := fmt.Sprintf("DELETE FROM %%s.%%s WHERE id = %d", i-2)
		for _, tb := range []string{"nodel", "noupd", "noins", "doins", "keep", "alt", "stop"} {
			q := func(s string) string { return strings.Replace(s, "%s.%s", "%s."+tb, 1) }
			switch tb {
			case "noins":
				srcOnly(tb, q(ins))
			case "doins":
				both(tb, q(ins))
			default:
				both(tb, q(ins))
			}
			if i%3 == 0 && tb != "stop" && tb != "noins" {
				switch tb {
				case "noupd", "doins":
					srcOnly(tb, q(upd))
				default:
					both(tb, q(upd))
				}
			}
			if i%5 == 0 && tb != "stop" && tb != "noins" {
				switch tb {
				case "nodel", "doins":
					srcOnly(tb, q(del))
				default:
					both(tb, q(del))
				}
			}
		}
	}
	// Statements, one of each kind; the dropped ones leave the target as it was.
	syExec(t, p.srcDB,
		"TRUNCATE TABLE f.keep",
		"CREATE INDEX i1 ON f.keep (v)", // passes
		"DROP INDEX i1 ON f.keep",       // dropped: the target keeps i1
		"DROP TABLE f.keep",             // dropped: the target keeps the table and its rows
		"ALTER TABLE f.alt ADD INDEX iv (v)",
		"ALTER TABLE f.alt ADD COLUMN w INT NOT NULL DEFAULT 7", // passes
		"INSERT INTO f.alt VALUES (100, 100, 8)",
		"CREATE INDEX ix ON f.idx (v)",
		"ALTER TABLE f.doins ADD INDEX iv (v)", // not listed by the do rule: dropped
		"RENAME TABLE f.ren1 TO f.ren2",
		"DROP DATABASE gdrop",
		"CREATE DATABASE gnew",
	)
	syExec(t, p.srcDB, "ALTER TABLE x.alt ADD COLUMN w INT NOT NULL DEFAULT 7", "INSERT INTO x.alt VALUES (100, 100, 8)")
	time.Sleep(300 * time.Millisecond) // the writer goes on while the statements replicate
	w.stop()
	syWaitCaughtUp(t, p, r, 60*time.Second)
	syWaitSame(t, p, 30*time.Second, "c.acct=c.acct", "c.nokey=c.nokey", "c.uk=c.uk",
		"f.nodel=x.nodel", "f.noupd=x.noupd", "f.noins=x.noins", "f.doins=x.doins", "f.alt=x.alt", "f.stop=x.stop")
	// f.noins got no row at all; x.noins none either: check it is not vacuous.
	if n := len(syRows(t, p.srcDB, "f.noins")); n == 0 {
		t.Fatal("the source's f.noins is empty: the test inserted nothing")
	}
	// f.keep: the truncate and the drop were dropped: the target keeps the rows x.keep has.
	if got, want := syRows(t, p.dstDB, "f.keep"), syRows(t, p.srcDB, "x.keep"); strings.Join(got, ";") != strings.Join(want, ";") || len(got) == 0 {
		t.Errorf("f.keep on the target: %d rows, want the %d rows before TRUNCATE", len(got), len(want))
	}
	indexes := func(table, index string) int {
		var n int
		db, tb, _ := strings.Cut(table, ".")
		if err := p.dstDB.QueryRow("SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = ?",
			db, tb, index).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	exists := func(q string, args ...any) bool {
		var n int
		if err := p.dstDB.QueryRow(q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	table := func(db, tb string) bool {
		return exists("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", db, tb)
	}
	for _, c := range []struct {
		what string
		ok   bool
	}{
		{"create index passed: f.keep has i1, drop index dropped", indexes("f.keep", "i1") > 0},
		{"alter table ... ADD INDEX dropped by sql: f.alt has no iv", indexes("f.alt", "iv") == 0},
		{"create index dropped: f.idx has no ix", indexes("f.idx", "ix") == 0},
		{"do rule dropped an unlisted alter: f.doins has no iv", indexes("f.doins", "iv") == 0},
		{"create table passed the do rule: f.doins exists", table("f", "doins")},
		{"rename dropped: f.ren1 stays, no f.ren2", table("f", "ren1") && !table("f", "ren2")},
		{"drop database dropped: gdrop.t stays", table("gdrop", "t")},
		{"create database dropped: no gnew", !exists("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'gnew'")},
	} {
		if !c.ok {
			t.Errorf("not so: %s", c.what)
		}
	}
	if w.ops.Load() == 0 {
		t.Fatal("the writer made no change")
	}

	// A dropped ALTER TABLE ... DROP COLUMN: the target keeps the column,
	// sync reads the table's rows with the source's definition (its view)
	// and writes the columns the target has, also after a restart and
	// through a later ALTER that passes.
	syExec(t, p.srcDB, "ALTER TABLE f.arch DROP COLUMN v",
		"INSERT INTO f.arch VALUES (4, 4), (5, 5)", "INSERT INTO x.arch (id, n) VALUES (4, 4), (5, 5)",
		"UPDATE f.arch SET n = n + 100 WHERE id IN (1, 4)", "UPDATE x.arch SET n = n + 100 WHERE id IN (1, 4)",
		"DELETE FROM f.arch WHERE id = 2", "DELETE FROM x.arch WHERE id = 2")
	syWaitCaughtUp(t, p, r, 60*time.Second)
	syWaitSame(t, p, 30*time.Second, "f.arch=x.arch")
	if err := r.stop(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	r = syStart(t, cfg, log)
	syExec(t, p.srcDB, "ALTER TABLE f.arch ADD COLUMN w INT NOT NULL DEFAULT 3", "ALTER TABLE x.arch ADD COLUMN w INT NOT NULL DEFAULT 3",
		"INSERT INTO f.arch VALUES (6, 6, 60)", "INSERT INTO x.arch (id, n, w) VALUES (6, 6, 60)",
		"UPDATE f.arch SET w = w + 1, n = n + 1", "UPDATE x.arch SET w = w + 1, n = n + 1",
		"DELETE FROM f.arch WHERE id = 5", "DELETE FROM x.arch WHERE id = 5")
	syWaitCaughtUp(t, p, r, 60*time.Second)
	syWaitSame(t, p, 30*time.Second, "f.arch=x.arch")
	var views int
	if err := p.dstDB.QueryRow("SELECT COUNT(*) FROM dmplan_meta.schema_view WHERE task = 'filt' AND src_table = 'arch'").Scan(&views); err != nil || views != 1 {
		t.Errorf("dmplan_meta.schema_view rows for f.arch: %d (%v), want 1", views, err)
	}

	// An error rule stops the subtask at the event, naming the rule.
	syExec(t, p.srcDB, "DELETE FROM f.stop WHERE id = 1")
	select {
	case err := <-r.done:
		r.done <- err
		if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "spec.filters[10] (action error") {
			t.Fatalf("Run returned %v, want a permanent error naming spec.filters[10]", err)
		}
		t.Logf("error action: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the delete matching an error rule did not stop the subtask")
	}
	if got := syRows(t, p.dstDB, "f.stop"); len(got) != 30 {
		t.Errorf("f.stop on the target has %d rows, want 30 (the delete not applied)", len(got))
	}
}
