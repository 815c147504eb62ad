package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/mariadbtest"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/spec"
	"github.com/dmplan/dmplan/units"
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
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srvB, err := mariadbtest.Start(ctx, filepath.Join(t.TempDir(), "b"), mariadbtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srvB.Stop() })
	const task, db, dst = "shard", "e2e_shardsrc", "e2e_shard.orders"
	srvs := map[string]*mariadbtest.Server{"src-shard-a": source, "src-shard-b": srvB}
	shards := map[string][]string{"src-shard-a": {"orders_1", "orders_2"}, "src-shard-b": {"orders_3", "orders_4"}}
	dbs := map[string]*sql.DB{}
	tgt, err := target.DB("")
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	mustExec(t, tgt, "DROP DATABASE IF EXISTS e2e_shard", "CREATE DATABASE e2e_shard",
		"CREATE TABLE e2e_shard.orders (id BIGINT PRIMARY KEY, k INT NOT NULL, c VARCHAR(40) NOT NULL)",
		"DROP USER IF EXISTS 't_shard'@'127.0.0.1'", "CREATE USER 't_shard'@'127.0.0.1' IDENTIFIED BY 'tpw'",
		"GRANT ALL ON *.* TO 't_shard'@'127.0.0.1'")
	for _, src := range []string{"src-shard-a", "src-shard-b"} {
		if err := units.ResetSync(ctx, tgt, task, src); err != nil {
			t.Fatal(err)
		}
	}
	c.env["T_SHARD_PW"] = "tpw"
	c.env["S_SHARD_PW"] = "spw"
	var yaml strings.Builder
	for _, src := range []string{"src-shard-a", "src-shard-b"} {
		d, err := srvs[src].DB("")
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		dbs[src] = d
		mustExec(t, d, "DROP DATABASE IF EXISTS "+db, "CREATE DATABASE "+db,
			"DROP USER IF EXISTS 'u_shard'@'127.0.0.1'", "CREATE USER 'u_shard'@'127.0.0.1' IDENTIFIED BY 'spw'",
			"GRANT SELECT, RELOAD, LOCK TABLES, SHOW VIEW, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'u_shard'@'127.0.0.1'")
		for _, tb := range shards[src] {
			mustExec(t, d, "CREATE TABLE "+db+"."+tb+" (id BIGINT PRIMARY KEY, k INT NOT NULL, c VARCHAR(40) NOT NULL)")
		}
		fmt.Fprintf(&yaml, "apiVersion: dmplan/v1\nkind: Source\nmetadata:\n  name: %s\nspec:\n  host: 127.0.0.1\n  port: %d\n  user: u_shard\n  password: ${S_SHARD_PW}\n  flavor: mariadb\n---\n", src, srvs[src].Port)
	}
	fmt.Fprintf(&yaml, `apiVersion: dmplan/v1
kind: Task
metadata:
  name: %s
spec:
  mode: incremental
  target: {host: 127.0.0.1, port: %d, user: t_shard, password: "${T_SHARD_PW}"}
  sources: [src-shard-a, src-shard-b]
  tables: ["%s.*"]
  shardMode: pessimistic
  routes:
    - from: "%s.orders_*"
      to: %s
`, task, target.Port, db, db, dst)
	for _, name := range []string{"a", "b", "c"} {
		c.startAgent(name, "--lease-ttl", "3s")
	}
	waitWorkers(c, 3)
	c.writeYAML("shard.yaml", yaml.String())
	c.apply()
	for _, src := range []string{"src-shard-a", "src-shard-b"} {
		c.waitStage(60*time.Second, task, src, spec.StageRunning, func(s store.SubtaskStatus) bool { return s.Unit == "sync" })
	}

	// Writers: one per shard, inserting (ids disjoint per shard) and
	// updating; after its shard's ALTER each writes the new column too.
	var altered sync.Map
	var stop atomic.Bool
	var wg sync.WaitGroup
	var writes atomic.Int64
	for src, tbs := range shards {
		for n, tb := range tbs {
			base := int64(n+1) * 1_000_000
			if src == "src-shard-b" {
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
	alterShard("src-shard-a", "orders_1")
	lock(1)
	alterShard("src-shard-b", "orders_3")
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
	st, _, _ := c.status(task, "src-shard-a")
	c.agents[st.Worker].kill()
	c.waitStage(60*time.Second, task, "src-shard-a", spec.StageRunning, func(s store.SubtaskStatus) bool { return s.Worker != st.Worker && s.Unit == "sync" })
	if l := lock(2); l.Executed {
		t.Fatal("lock executed with 2 of 4 shards")
	}
	var cols int
	tgt.QueryRow("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'e2e_shard' AND TABLE_NAME = 'orders' AND COLUMN_NAME = 'note'").Scan(&cols)
	if cols != 0 {
		t.Fatal("the target has the column before every shard reached the DDL")
	}
	alterShard("src-shard-a", "orders_2")
	lock(3)
	alterShard("src-shard-b", "orders_4")
	waitFor(t, 60*time.Second, "the lock to finish", func() (bool, error) {
		ls, err := c.st.ShardLocks(context.Background())
		return err == nil && len(ls) == 0, err
	})
	after := writes.Load() // let the writers write the new column a while
	waitFor(t, 30*time.Second, "writes after the lock", func() (bool, error) { return writes.Load() > after+200, nil })
	stop.Store(true)
	wg.Wait()
	digest := func(d *sql.DB, tables ...string) (n, sum int64) {
		var sel []string
		for _, tb := range tables {
			sel = append(sel, "SELECT id, k, c, note FROM "+tb)
		}
		d.QueryRow("SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', id, k, c, IFNULL(note, '-')))), 0) FROM ("+strings.Join(sel, " UNION ALL ")+") u").Scan(&n, &sum)
		return
	}
	// unionEqual: the target holds exactly the union of the four shards.
	unionEqual := func() (bool, error) {
		var n, sum int64
		for src, tbs := range shards {
			var q []string
			for _, tb := range tbs {
				q = append(q, db+"."+tb)
			}
			a, b := digest(dbs[src], q...)
			n, sum = n+a, sum+b
		}
		tn, tsum := digest(tgt, dst)
		return n == tn && sum == tsum && n > 0, nil
	}
	waitFor(t, 60*time.Second, "target = union of the shards", unionEqual)
	t.Logf("%d writes; target equal to the union of the 4 shards", writes.Load())

	// A differing DDL: the second shard stops, showing both statements.
	mustExec(t, dbs["src-shard-a"], "ALTER TABLE "+db+".orders_1 ADD COLUMN x INT NULL")
	lock(1)
	mustExec(t, dbs["src-shard-b"], "ALTER TABLE "+db+".orders_3 ADD COLUMN y INT NULL")
	st, _ = c.waitStage(60*time.Second, task, "src-shard-b", "error", func(s store.SubtaskStatus) bool { return s.Error != "" })
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
	c.writeYAML("shard.yaml", yaml.String()+"  shardDDL:\n    resolve:\n      - {table: "+dst+", ddl: '"+x+"', action: skip}\n      - {table: "+dst+", ddl: '"+y+"', action: skip}\n")
	if out := c.dmplan("plan", "-f", c.dir+"/yaml"); !strings.Contains(out, "spec.shardDDL.resolve[1]") || !strings.Contains(out, "skip") {
		t.Errorf("plan does not show the resolutions:\n%s", out)
	}
	c.apply()
	for _, src := range []string{"src-shard-a", "src-shard-b"} {
		c.waitStage(60*time.Second, task, src, spec.StageRunning, func(s store.SubtaskStatus) bool { return s.Unit == "sync" && s.Error == "" })
	}
	for i := 1; i <= 20; i++ {
		mustExec(t, dbs["src-shard-a"], fmt.Sprintf("INSERT INTO %s.orders_1 (id, k, c, note, x) VALUES (%d, 1, 'x', 'n', %d)", db, 9_000_000+i, i))
		mustExec(t, dbs["src-shard-b"], fmt.Sprintf("INSERT INTO %s.orders_3 (id, k, c, note, y) VALUES (%d, 1, 'y', 'n', %d)", db, 19_000_000+i, i))
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
	mustExec(t, dbs["src-shard-a"], "ALTER TABLE "+db+".orders_2 ADD COLUMN z INT NULL")
	waitFor(t, 60*time.Second, "the lock of ADD COLUMN z", func() (bool, error) {
		ls, err := c.st.ShardLocks(context.Background())
		return err == nil && len(ls) == 1 && strings.Contains(ls[0].DDL, "ADD COLUMN z"), err
	})
	mustExec(t, dbs["src-shard-a"], "CREATE TABLE "+db+".orders_9 (id BIGINT PRIMARY KEY, k INT NOT NULL, c VARCHAR(40) NOT NULL)")
	st, _ = c.waitStage(60*time.Second, task, "src-shard-a", "error", func(s store.SubtaskStatus) bool { return s.Error != "" })
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
