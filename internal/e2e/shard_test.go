package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/spec"
	"github.com/dmplan/dmplan/units/job"
)

// Two sources x two shard tables each, routed into one target table, in
// pessimistic shard mode, writes on all four. The same ALTER runs on each
// shard at different times; the agent serving the first source is killed
// while the lock is open (2 of 4 shards reached it). The lock survives in
// etcd, completes, and the target ends equal to the union of the shards.
// Then a differing DDL stops the second shard with both statements;
// spec.shardDDL.resolve skips both (planned, applied, acted on by the
// agents), and the target equals the union again. A shard table created
// while a lock awaits its source's other shard stops sync.
func TestShardDDLPessimistic(t *testing.T) {
	f := newShardFixture(t, "shard", "pessimistic", "a", "b", "c")
	c, task, db, dst, shards, dbs, tgt := f.c, f.task, f.db, f.dst, f.shards, f.dbs, f.tgt

	// Writers: one per shard, inserting (ids disjoint per shard) and
	// updating; after its shard's ALTER each writes the new column too.
	var altered sync.Map
	var stop atomic.Bool
	var wg sync.WaitGroup
	var writes atomic.Int64
	for src, tbs := range shards {
		for n, tb := range tbs {
			base := int64(n+1) * 1_000_000
			if src == f.b {
				base += 10_000_000
			}
			wg.Go(func() {
				for i := int64(1); !stop.Load(); i++ {
					q := fmt.Sprintf("INSERT INTO %s.%s (id, k, c) VALUES (%d, %d, 'r%d')", db, tb, base+i, i%7, i)
					if _, ok := altered.Load(tb); ok {
						q = fmt.Sprintf("INSERT INTO %s.%s (id, k, c, note) VALUES (%d, %d, 'r%d', 'n%d')", db, tb, base+i, i%7, i, i)
					}
					if _, err := dbs[src].Exec(q); err != nil {
						t.Errorf("write %s: %v", tb, err)
						return
					}
					if i%3 == 0 {
						dbs[src].Exec(fmt.Sprintf("UPDATE %s.%s SET k = k + 1 WHERE id = %d", db, tb, base+i/2))
					}
					writes.Add(1)
					time.Sleep(5 * time.Millisecond)
				}
			})
		}
	}
	const alter = "ALTER TABLE %s.%s ADD COLUMN note VARCHAR(20) NULL"
	lock := func(joined int) job.ShardLock {
		var l job.ShardLock
		waitFor(t, 60*time.Second, fmt.Sprintf("the lock of %s with %d shards", dst, joined), func() (bool, error) {
			ls, err := c.st.ShardLocks(context.Background())
			if err != nil || len(ls) != 1 {
				return false, err
			}
			l = ls[0]
			return len(l.Joined) == joined, nil
		})
		return l
	}
	alterShard := func(src, tb string) {
		mustExec(t, dbs[src], fmt.Sprintf(alter, db, tb))
		altered.Store(tb, true)
	}
	alterShard(f.a, "orders_1")
	lock(1)
	alterShard(f.b, "orders_3")
	l := lock(2)
	t.Logf("lock open: %s, awaited %v", l.DDL, l.Awaited())
	if out := c.dmplan("status"); !strings.Contains(out, dst) {
		t.Errorf("status does not show the lock of %s:\n%s", dst, out)
	}
	if out := c.dmplan("plan", "-f", c.dir+"/yaml"); !strings.Contains(out, "shard DDL lock of task shard on "+dst+" (waiting") ||
		!strings.Contains(out, "awaiting src-shard-a:e2e_shardsrc.orders_2, src-shard-b:e2e_shardsrc.orders_4") {
		t.Errorf("plan does not list the open lock:\n%s", out)
	}
	// Failover while the lock is open.
	st, _, _ := c.status(task, f.a)
	c.agents[st.Worker].kill()
	c.waitStage(60*time.Second, task, f.a, spec.StageRunning, func(s store.SubtaskStatus) bool { return s.Worker != st.Worker && s.Unit == "sync" })
	if l := lock(2); l.Executed {
		t.Fatal("lock executed with 2 of 4 shards")
	}
	var cols int
	tgt.QueryRow("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'e2e_shard' AND TABLE_NAME = 'orders' AND COLUMN_NAME = 'note'").Scan(&cols)
	if cols != 0 {
		t.Fatal("the target has the column before every shard reached the DDL")
	}
	alterShard(f.a, "orders_2")
	lock(3)
	alterShard(f.b, "orders_4")
	waitFor(t, 60*time.Second, "the lock to finish", func() (bool, error) {
		ls, err := c.st.ShardLocks(context.Background())
		return err == nil && len(ls) == 0, err
	})
	after := writes.Load() // let the writers write the new column a while
	waitFor(t, 30*time.Second, "writes after the lock", func() (bool, error) { return writes.Load() > after+200, nil })
	stop.Store(true)
	wg.Wait()
	// unionEqual: the target holds exactly the union of the four shards.
	unionEqual := func() (bool, error) { return f.unionEqual("note") }
	waitFor(t, 60*time.Second, "target = union of the shards", unionEqual)
	t.Logf("%d writes; target equal to the union of the 4 shards", writes.Load())

	// A differing DDL: the second shard stops, showing both statements.
	mustExec(t, dbs[f.a], "ALTER TABLE "+db+".orders_1 ADD COLUMN x INT NULL")
	lock(1)
	mustExec(t, dbs[f.b], "ALTER TABLE "+db+".orders_3 ADD COLUMN y INT NULL")
	st, _ = c.waitStage(60*time.Second, task, f.b, "error", func(s store.SubtaskStatus) bool { return s.Error != "" })
	if !strings.Contains(st.Error, "ADD COLUMN x INT NULL") || !strings.Contains(st.Error, "ADD COLUMN y INT NULL") {
		t.Errorf("error does not show both statements: %s", st.Error)
	}

	// Resolved declaratively: both DDLs skipped. The held shard's lock is
	// released, the stopped shard goes on, the target keeps its schema,
	// and the shards' rows (with their new columns) apply by name.
	var x, y string
	for _, line := range strings.Split(st.Error, "\n") {
		if _, v, ok := strings.Cut(line, "this shard: "); ok {
			y = v
		}
		if _, v, ok := strings.Cut(line, "orders_1): "); ok {
			x = v
		}
	}
	c.writeYAML("shard.yaml", f.yaml+"  shardDDL:\n    resolve:\n      - {table: "+dst+", ddl: '"+x+"', action: skip}\n      - {table: "+dst+", ddl: '"+y+"', action: skip}\n")
	if out := c.dmplan("plan", "-f", c.dir+"/yaml"); !strings.Contains(out, "spec.shardDDL.resolve[1]") || !strings.Contains(out, "skip") {
		t.Errorf("plan does not show the resolutions:\n%s", out)
	}
	c.apply()
	for _, src := range []string{f.a, f.b} {
		c.waitStage(60*time.Second, task, src, spec.StageRunning, func(s store.SubtaskStatus) bool { return s.Unit == "sync" && s.Error == "" })
	}
	for i := 1; i <= 20; i++ {
		mustExec(t, dbs[f.a], fmt.Sprintf("INSERT INTO %s.orders_1 (id, k, c, note, x) VALUES (%d, 1, 'x', 'n', %d)", db, 9_000_000+i, i))
		mustExec(t, dbs[f.b], fmt.Sprintf("INSERT INTO %s.orders_3 (id, k, c, note, y) VALUES (%d, 1, 'y', 'n', %d)", db, 19_000_000+i, i))
	}
	waitFor(t, 60*time.Second, "target = union of the shards after the skipped DDLs", unionEqual)
	tgt.QueryRow("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'e2e_shard' AND TABLE_NAME = 'orders' AND COLUMN_NAME IN ('x', 'y')").Scan(&cols)
	if cols != 0 {
		t.Errorf("skipped DDLs reached the target (%d of x, y)", cols)
	}
	if ls, err := c.st.ShardLocks(context.Background()); err != nil || len(ls) == 1 && !ls[0].Executed {
		t.Errorf("the skipped lock is still waiting: %+v %v", ls, err)
	}

	// A shard table created while a lock awaits the source's other shard
	// stops sync (the lock would not await it), saying what to do.
	mustExec(t, dbs[f.a], "ALTER TABLE "+db+".orders_2 ADD COLUMN z INT NULL")
	waitFor(t, 60*time.Second, "the lock of ADD COLUMN z", func() (bool, error) {
		ls, err := c.st.ShardLocks(context.Background())
		return err == nil && len(ls) == 1 && strings.Contains(ls[0].DDL, "ADD COLUMN z"), err
	})
	mustExec(t, dbs[f.a], "CREATE TABLE "+db+".orders_9 (id BIGINT PRIMARY KEY, k INT NOT NULL, c VARCHAR(40) NOT NULL)")
	st, _ = c.waitStage(60*time.Second, task, f.a, "error", func(s store.SubtaskStatus) bool { return s.Error != "" })
	if !strings.Contains(st.Error, "shard table `"+db+"`.`orders_9` was created while the DDL lock of the merged table "+dst+" is open") ||
		!strings.Contains(st.Error, "spec.shardDDL.resolve") {
		t.Errorf("a shard created while a lock is open: %s", st.Error)
	}
}

func mustExec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}
