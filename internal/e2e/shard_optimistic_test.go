package e2e

import (
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/spec"
)

// Two sources x two shard tables each, routed into one target table, in
// optimistic shard mode, writes on all four. Compatible ALTERs run on the
// shards at different times — a nullable column on one, the same column
// wider on another, an index on a third, a widened type on the fourth —
// and each reaches the target at once, on the joined schema, while the
// other shards keep writing rows without the column. The target equals
// the union of the shards. Then one shard drops the column another still
// writes: it stops with an error naming the conflict and both shards'
// schemas; a spec.shardDDL.resolve skip, applied as a plan, lets it go on
// (the target keeps the column); another conflict (a changed default) is
// resolved with execute, and the target equals the union again.
// A shard table created meanwhile joins with a column of its own; a
// TRUNCATE of a shard stops its source with an error saying what to do.
func TestShardDDLOptimistic(t *testing.T) {
	f := newShardFixture(t, "oshard", "optimistic", "a", "b")
	c, task, db, tdb, dst, a, b, shards, dbs, tgt := f.c, f.task, f.db, f.tdb, f.dst, f.a, f.b, f.shards, f.dbs, f.tgt

	// One writer per shard (ids disjoint per shard), inserting and
	// updating; it writes note while its shard has the column. An ALTER
	// of a shard holds its writer's lock.
	type shardW struct {
		sync.Mutex
		src  string
		note bool
	}
	ws := map[string]*shardW{}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var writes atomic.Int64
	for src, tbs := range shards {
		for n, tb := range tbs {
			w := &shardW{src: src}
			ws[tb] = w
			base := int64(n+1) * 1_000_000
			if src == b {
				base += 10_000_000
			}
			wg.Go(func() {
				for i := int64(1); !stop.Load(); i++ {
					w.Lock()
					q := fmt.Sprintf("INSERT INTO %s.%s (id, k, c) VALUES (%d, %d, 'r%d')", db, tb, base+i, i%7, i)
					if w.note {
						q = fmt.Sprintf("INSERT INTO %s.%s (id, k, c, note) VALUES (%d, %d, 'r%d', 'n%d')", db, tb, base+i, i%7, i, i)
					}
					_, err := dbs[src].Exec(q)
					if err == nil && i%3 == 0 {
						_, err = dbs[src].Exec(fmt.Sprintf("UPDATE %s.%s SET k = k + 1 WHERE id = %d", db, tb, base+i/2))
					}
					w.Unlock()
					if err != nil {
						t.Errorf("write %s: %v", tb, err)
						return
					}
					writes.Add(1)
					time.Sleep(5 * time.Millisecond)
				}
			})
		}
	}
	alter := func(tb, stmt string, note bool) {
		w := ws[tb]
		w.Lock()
		defer w.Unlock()
		mustExec(t, dbs[w.src], fmt.Sprintf(stmt, db+"."+tb))
		w.note = note
	}
	column := f.targetColumn
	waitColumn := func(name, typ string) {
		waitFor(t, 60*time.Second, fmt.Sprintf("target column %s %s", name, typ), func() (bool, error) { return column(name) == typ, nil })
	}
	settle := func() { // let the writers write a while
		n := writes.Load()
		waitFor(t, 30*time.Second, "writes", func() (bool, error) { return writes.Load() > n+100, nil })
	}
	union := func(what, targetNote string) {
		for _, w := range ws { // the writers pause while the tables are compared
			w.Lock()
		}
		defer func() {
			for _, w := range ws {
				w.Unlock()
			}
		}()
		waitFor(t, 60*time.Second, "target = union of the shards "+what, func() (bool, error) { return f.unionEqual(targetNote) })
	}

	// Compatible DDLs, one shard at a time: each reaches the target at once.
	alter("orders_1", "ALTER TABLE %s ADD COLUMN note VARCHAR(20) NULL", true)
	waitColumn("note", "varchar(20)")
	settle()
	alter("orders_3", "ALTER TABLE %s ADD COLUMN note VARCHAR(30) NULL", true)
	waitColumn("note", "varchar(30)")
	alter("orders_2", "CREATE INDEX kc ON %s (c)", false)
	waitFor(t, 60*time.Second, "target index kc", func() (bool, error) {
		var n int
		err := tgt.QueryRow("SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'orders' AND INDEX_NAME = 'kc'", tdb).Scan(&n)
		return n > 0, err
	})
	alter("orders_4", "ALTER TABLE %s MODIFY k BIGINT NOT NULL", false)
	waitColumn("k", "bigint(20)")
	// A shard table created while the task runs, with a column of its own:
	// the target gets the column, the shard's rows apply by name.
	mustExec(t, dbs[a], "CREATE TABLE "+db+".orders_5 (id BIGINT PRIMARY KEY, k BIGINT NOT NULL, c VARCHAR(40) NOT NULL, note VARCHAR(20) NULL, extra INT NULL)")
	for i := 1; i <= 30; i++ {
		mustExec(t, dbs[a], fmt.Sprintf("INSERT INTO %s.orders_5 VALUES (%d, %d, 'r%d', 'n%d', %d)", db, 5_000_000+i, i, i, i, i))
	}
	shards[a] = append(shards[a], "orders_5")
	waitColumn("extra", "int(11)")
	settle()
	union("after the compatible DDLs", "note")
	if out := c.dmplan("status"); !strings.Contains(out, "SHARD SCHEMA (OPTIMISTIC)") || !strings.Contains(out, task+"/"+dst+"  ") {
		t.Errorf("status does not show the optimistic schema of %s:\n%s", dst, out)
	}

	// A conflicting DDL: orders_3 drops note, which orders_1 still writes.
	alter("orders_3", "ALTER TABLE %s DROP COLUMN note", false)
	st, _ := c.waitStage(60*time.Second, task, b, "error", func(s store.SubtaskStatus) bool { return s.Error != "" })
	for _, want := range []string{"drops column `note`, but shard " + a + ":" + db + ".orders_1 still has it", "this shard before:", "`note` varchar(30)", "shard " + a + ":" + db + ".orders_1: (", "spec.shardDDL.resolve"} {
		if !strings.Contains(st.Error, want) {
			t.Errorf("the conflict error lacks %q:\n%s", want, st.Error)
		}
	}
	if out := c.dmplan("status"); !strings.Contains(out, "SHARD DDL CONFLICT") || !strings.Contains(out, "drops column `note`") {
		t.Errorf("status does not show the conflict:\n%s", out)
	}
	if out := c.dmplan("plan", "-f", c.dir+"/yaml"); !strings.Contains(out, "shard DDL conflict of task "+task+" on "+dst) {
		t.Errorf("plan does not list the conflict:\n%s", out)
	}
	// Resolved declaratively: skip keeps the target's column.
	_, stmt, _ := strings.Cut(st.Error, "the DDL:")
	stmt, _, _ = strings.Cut(strings.TrimSpace(stmt), "\n")
	c.writeYAML("oshard.yaml", f.yaml+"  shardDDL:\n    resolve:\n      - {table: "+dst+", ddl: '"+stmt+"', action: skip}\n")
	if out := c.dmplan("plan", "-f", c.dir+"/yaml"); !strings.Contains(out, "spec.shardDDL.resolve[0]") {
		t.Errorf("plan does not show the resolution:\n%s", out)
	}
	c.apply()
	c.waitStage(60*time.Second, task, b, spec.StageRunning, func(s store.SubtaskStatus) bool { return s.Unit == "sync" && s.Error == "" })
	settle()

	// Another conflict, resolved with execute: a changed default runs on
	// the target as it is.
	alter("orders_4", "ALTER TABLE %s MODIFY c VARCHAR(40) NOT NULL DEFAULT 'z'", false)
	st, _ = c.waitStage(60*time.Second, task, b, "error", func(s store.SubtaskStatus) bool { return strings.Contains(s.Error, "changes column `c`") })
	_, stmt2, _ := strings.Cut(st.Error, "the DDL:")
	stmt2, _, _ = strings.Cut(strings.TrimSpace(stmt2), "\n")
	c.writeYAML("oshard.yaml", f.yaml+"  shardDDL:\n    resolve:\n      - {table: "+dst+", ddl: '"+stmt+"', action: skip}\n"+
		"      - {table: "+dst+", ddl: \""+stmt2+"\", action: execute}\n")
	c.apply()
	waitFor(t, 60*time.Second, "the executed DDL on the target", func() (bool, error) {
		var def sql.NullString
		err := tgt.QueryRow("SELECT COLUMN_DEFAULT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'orders' AND COLUMN_NAME = 'c'", tdb).Scan(&def)
		return def.String == "'z'", err
	})
	c.waitStage(60*time.Second, task, b, spec.StageRunning, func(s store.SubtaskStatus) bool { return s.Unit == "sync" && s.Error == "" })
	settle()
	stop.Store(true)
	wg.Wait()
	// The target keeps the notes orders_3 wrote before it dropped the column.
	union("after the resolved conflict", "IF(id BETWEEN 11000000 AND 11999999, NULL, note)")
	if column("note") != "varchar(30)" {
		t.Errorf("the skipped DROP COLUMN changed the target: note is %q", column("note"))
	}
	t.Logf("%d writes; target equal to the union of the 5 shards", writes.Load())

	// TRUNCATE of a shard: the target holds the other shards' rows too;
	// sync stops and says what to do.
	mustExec(t, dbs[a], "TRUNCATE TABLE "+db+".orders_2")
	st, _ = c.waitStage(60*time.Second, task, a, "error", func(s store.SubtaskStatus) bool { return s.Error != "" })
	if !strings.Contains(st.Error, "TRUNCATE TABLE of `"+db+"`.`orders_2`, a shard of the merged table `"+tdb+"`.`orders`") || !strings.Contains(st.Error, "spec.filters") {
		t.Errorf("TRUNCATE of a shard: %s", st.Error)
	}
}
