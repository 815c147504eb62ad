package units

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// syFKSchema creates parent, child and grandchild tables in db, linked by
// ON DELETE CASCADE, ON UPDATE CASCADE and ON DELETE SET NULL keys, and a
// table without keys to them, with rows.
func syFKSchema(t *testing.T, p *syPair, db string) {
	q := QuoteIdent(db)
	syExec(t, p.srcDB, "CREATE DATABASE "+q,
		"CREATE TABLE "+q+".parent (id INT PRIMARY KEY, code INT NOT NULL, v INT NOT NULL, UNIQUE KEY (code))",
		"CREATE TABLE "+q+`.child (id INT PRIMARY KEY, pid INT NOT NULL, pcode INT NULL, n INT NOT NULL,
			CONSTRAINT child_del FOREIGN KEY (pid) REFERENCES parent (id) ON DELETE CASCADE,
			CONSTRAINT child_upd FOREIGN KEY (pcode) REFERENCES parent (code) ON UPDATE CASCADE ON DELETE SET NULL)`,
		"CREATE TABLE "+q+`.grandchild (id INT PRIMARY KEY, cid INT NULL, n INT NOT NULL,
			CONSTRAINT gc_null FOREIGN KEY (cid) REFERENCES child (id) ON DELETE SET NULL ON UPDATE CASCADE)`,
		"CREATE TABLE "+q+".other (id INT PRIMARY KEY, v INT NOT NULL)",
		"INSERT INTO "+q+".parent SELECT seq, seq, 0 FROM "+q+".seq_1_to_300",
		"INSERT INTO "+q+".child SELECT seq, 1 + seq % 300, 1 + (seq * 7) % 300, 0 FROM "+q+".seq_1_to_1500",
		"INSERT INTO "+q+".grandchild SELECT seq, 1 + seq % 1500, 0 FROM "+q+".seq_1_to_3000",
		"INSERT INTO "+q+".other SELECT seq, 0 FROM "+q+".seq_1_to_500")
}

// syFKWrites writes to every table of db from 4 goroutines: parents
// inserted, re-keyed (ON UPDATE CASCADE) and deleted (CASCADE and SET
// NULL), children inserted, moved and deleted, in small transactions.
func syFKWrites(p *syPair, db string) (stop func()) {
	q := QuoteIdent(db)
	return syRandomWrites(4, func(ctx context.Context, rng *rand.Rand) {
		tx, err := p.srcDB.BeginTx(ctx, nil)
		if err != nil {
			return
		}
		for i := 0; i < 1+rng.IntN(4); i++ {
			pid, cid := 1+rng.IntN(400), 1+rng.IntN(2000)
			switch rng.IntN(10) {
			case 0:
				tx.ExecContext(ctx, "INSERT INTO "+q+".parent VALUES (?, ?, 0)", pid, 1000+rng.IntN(100000))
			case 1:
				tx.ExecContext(ctx, "UPDATE "+q+".parent SET code = ? WHERE id = ?", 1000+rng.IntN(100000), pid)
			case 2:
				tx.ExecContext(ctx, "DELETE FROM "+q+".parent WHERE id = ?", pid)
			case 3:
				tx.ExecContext(ctx, "UPDATE "+q+".parent SET v = v + 1 WHERE id = ?", pid)
			case 4:
				tx.ExecContext(ctx, "INSERT INTO "+q+".child SELECT ?, id, code, 0 FROM "+q+".parent WHERE id = ?", cid, pid)
			case 5:
				tx.ExecContext(ctx, "UPDATE "+q+".child SET n = n + 1, pid = ? WHERE id = ?", pid, cid)
			case 6:
				tx.ExecContext(ctx, "DELETE FROM "+q+".child WHERE id = ?", cid)
			case 7:
				tx.ExecContext(ctx, "INSERT INTO "+q+".grandchild VALUES (?, ?, 0)", 3000+rng.IntN(3000), cid)
			case 8:
				tx.ExecContext(ctx, "UPDATE "+q+".grandchild SET n = n + 1, cid = ? WHERE id = ?", cid, 1+rng.IntN(6000))
			default:
				tx.ExecContext(ctx, "UPDATE "+q+".other SET v = v + 1 WHERE id = ?", 1+rng.IntN(500))
			}
		}
		tx.Commit()
	})
}

// TestSyncForeignKeyCascades: changes of parents cascade to their children
// (ON DELETE CASCADE, ON UPDATE CASCADE, SET NULL, two levels) on the
// source without a binlog event; copied (mode all) and synced under writes
// to every table with 4 workers, the target cascades the same and ends
// equal — also with the child and grandchild routed to other names; a
// target child without the key fails the precheck unless the task accepts
// the loss.
func TestSyncForeignKeyCascades(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	tables := func(db, child, grandchild string) [][2]string {
		q := QuoteIdent(db)
		return [][2]string{{q + ".parent", q + ".parent"}, {child, q + ".child"}, {grandchild, q + ".grandchild"}, {q + ".other", q + ".other"}}
	}
	run := func(t *testing.T, db string, want [][2]string, routes ...Route) {
		syFKSchema(t, p, db)
		stop := syFKWrites(p, db)
		cfg := p.config("fk-"+db, ModeAll, []string{db + ".*"}, routes...)
		r := syStart(t, cfg, syLog(t))
		time.Sleep(3 * time.Second)
		stop()
		syWaitCaughtUp(t, p, r, 90*time.Second)
		syChecksumsEqual(t, p, 30*time.Second, want...)
		if err := r.stop(t); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v", err)
		}
		var orphans int
		if err := p.srcDB.QueryRow("SELECT COUNT(*) FROM " + QuoteIdent(db) + ".child c LEFT JOIN " + QuoteIdent(db) +
			".parent p ON p.id = c.pid WHERE p.id IS NULL").Scan(&orphans); err != nil || orphans != 0 {
			t.Fatalf("the source has %d orphans (%v): the test does not test cascades", orphans, err)
		}
	}
	t.Run("cascades", func(t *testing.T) {
		run(t, "fk1", tables("fk1", "`fk1`.`child`", "`fk1`.`grandchild`"))
	})
	t.Run("routed", func(t *testing.T) {
		run(t, "fk2", tables("fk2", "`fk2r`.`kid`", "`fk2`.`grandkid`"),
			Route{From: "fk2.child", To: "fk2r.kid"}, Route{From: "fk2.grandchild", To: "fk2.grandkid"})
		var ddl, name string
		if err := p.dstDB.QueryRow("SHOW CREATE TABLE fk2.grandkid").Scan(&name, &ddl); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(ddl, "REFERENCES `fk2r`.`kid` (`id`) ON DELETE SET NULL ON UPDATE CASCADE") {
			t.Errorf("the routed grandchild's key does not reference the routed child:\n%s", ddl)
		}
	})
	t.Run("target lacks the key", func(t *testing.T) {
		syFKSchema(t, p, "fk3")
		syExec(t, p.dstDB, "CREATE DATABASE fk3",
			"CREATE TABLE fk3.child (id INT PRIMARY KEY, pid INT NOT NULL, pcode INT NULL, n INT NOT NULL)")
		cfg := p.config("fk-fk3", ModeAll, []string{"fk3.*"})
		err := Run(context.Background(), cfg, nil, syLog(t))
		if !errors.Is(err, ErrPermanent) || !errors.Is(err, errPrecheck) ||
			!strings.Contains(err.Error(), "foreign key `child_del` of `fk3`.`child` (pid) -> `fk3`.`parent` (id) ON DELETE CASCADE") ||
			!strings.Contains(err.Error(), "acceptLostCascades") {
			t.Fatalf("Run returned %v, want a precheck failure naming the foreign key", err)
		}
		if strings.Contains(err.Error(), "gc_null") {
			t.Errorf("the grandchild's key is reported, though the load will create it: %v", err)
		}
		// A filter without the parent: the children's cascades are lost too.
		cfg.Tables = []string{"fk3.*", "!fk3.parent"}
		err = Run(context.Background(), cfg, nil, syLog(t))
		if !errors.Is(err, errPrecheck) || !strings.Contains(err.Error(), "the task does not replicate `fk3`.`parent`") {
			t.Fatalf("Run returned %v, want a precheck failure naming the parent", err)
		}
		// Accepted: the precheck passes and the copy runs.
		cfg.Tables = []string{"fk3.*"}
		cfg.AcceptLostCascades = []string{"fk3.child"}
		r := syStart(t, cfg, syLog(t))
		syWaitCaughtUp(t, p, r, 60*time.Second)
		syChecksumsEqual(t, p, 30*time.Second, [2]string{"fk3.parent", "fk3.parent"})
		if err := r.stop(t); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v", err)
		}
	})
}

// TestForeignKeyedStatements: the changes of a cascading group are
// rendered one statement each in binlog order across tables, with
// foreign_key_checks=1 around them, off for changes the source made with
// the checks off and for the REPLACE of an idempotent change; an
// idempotent update first runs as UPDATE IGNORE with the checks on.
func TestForeignKeyedStatements(t *testing.T) {
	parent := syTestTable("parent", []syncCol{{name: "id", kind: kindInt}, {name: "v", kind: kindInt}}, []int{0})
	child := syTestTable("child", []syncCol{{name: "id", kind: kindInt}, {name: "pid", kind: kindInt}}, []int{0})
	other := syTestTable("other", []syncCol{{name: "id", kind: kindInt}}, []int{0})
	parent.fkGroup, child.fkGroup = parent.quoted, parent.quoted
	row := func(v ...int64) []any {
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = x
		}
		return out
	}
	changes := []*syncChange{
		{kind: changeInsert, tbl: parent, after: row(1, 0)},
		{kind: changeInsert, tbl: other, after: row(5)},
		{kind: changeInsert, tbl: child, after: row(10, 1)},
		{kind: changeInsert, tbl: other, after: row(6)},
		{kind: changeDelete, tbl: parent, before: row(1, 0)},
		{kind: changeDelete, tbl: parent, before: row(2, 0), noFK: true},
		{kind: changeUpdate, tbl: parent, before: row(3, 0), after: row(4, 0), idem: true},
	}
	var b stmtBuilder
	b.maxStmt = 1 << 20
	if err := b.addBatch(changes); err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := range b.ends {
		got = append(got, string(b.buf[b.stmtStart(i):b.ends[i]]))
	}
	want := []string{
		"INSERT INTO `d`.`other` (`id`) VALUES (5),(6)",
		"SET foreign_key_checks=1",
		"INSERT INTO `d`.`parent` (`id`,`v`) VALUES (1,0)",
		"INSERT INTO `d`.`child` (`id`,`pid`) VALUES (10,1)",
		"DELETE FROM `d`.`parent` WHERE `id`=1",
		"SET foreign_key_checks=0",
		"DELETE FROM `d`.`parent` WHERE `id`=2",
		"SET foreign_key_checks=1",
		"UPDATE IGNORE `d`.`parent` SET `id`=4 WHERE `id`=3",
		"SET foreign_key_checks=0",
		"DELETE FROM `d`.`parent` WHERE `id`=3",
		"REPLACE INTO `d`.`parent` (`id`,`v`) VALUES (4,0)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("statements:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestSyncForeignKeyLoadWindow: a load interrupted after the child's
// first chunk resumes from a newer snapshot; in between, a parent is
// deleted on the source, cascading to child rows of that first chunk. The
// parent's own window ends before its delete, but the group's window
// covers it: sync replays the delete, the target cascades, and no orphan
// is left.
func TestSyncForeignKeyLoadWindow(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	syExec(t, p.srcDB, "CREATE DATABASE fkw",
		"CREATE TABLE fkw.parent (id INT PRIMARY KEY, v INT NOT NULL)",
		`CREATE TABLE fkw.child (id INT PRIMARY KEY, pid INT NOT NULL,
			CONSTRAINT c_p FOREIGN KEY (pid) REFERENCES parent (id) ON DELETE CASCADE)`,
		"INSERT INTO fkw.parent VALUES (1, 0), (2, 0), (3, 0)",
		"INSERT INTO fkw.child SELECT seq, 1 + (seq > 10) + (seq > 15) FROM fkw.seq_1_to_20")
	cfg := p.config("fkw", ModeAll, []string{"fkw.*"})
	ctx, cancel := context.WithCancel(context.Background())
	opts := DumpLoadOptions{ChunkRows: 5, Loaders: 1, afterChunk: func(uint32, *tableJob) { cancel() }}
	if _, err := DumpLoadWith(ctx, cfg, opts, nil, syLog(t)); !errors.Is(err, context.Canceled) {
		t.Fatalf("first attempt: %v", err)
	}
	var loaded int
	if err := p.dstDB.QueryRow("SELECT COUNT(*) FROM fkw.child").Scan(&loaded); err != nil || loaded == 0 {
		t.Fatalf("the first attempt loaded %d child rows (%v): the test needs the child's first chunk", loaded, err)
	}
	syExec(t, p.srcDB, "DELETE FROM fkw.parent WHERE id = 1", "INSERT INTO fkw.parent VALUES (1, 1)",
		"INSERT INTO fkw.child VALUES (100, 1)", "UPDATE fkw.parent SET v = 5 WHERE id = 2")
	r := syStart(t, cfg, syLog(t))
	syWaitCaughtUp(t, p, r, 60*time.Second)
	syChecksumsEqual(t, p, 30*time.Second, [2]string{"fkw.parent", "fkw.parent"}, [2]string{"fkw.child", "fkw.child"})
	if err := r.stop(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
}
