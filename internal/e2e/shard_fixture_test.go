package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/mariadbtest"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/spec"
	"github.com/dmplan/dmplan/units"
)

// shardFixture is the set-up the shard DDL tests share: two MariaDB
// sources (the package's source and a second server) with two shard
// tables each (orders_1, orders_2 on a; orders_3, orders_4 on b), routed
// into one target table, a task in mode incremental running on agents.
type shardFixture struct {
	c                  *cluster
	task, db, tdb, dst string // dst: tdb + ".orders"
	a, b               string // the source names
	shards             map[string][]string
	dbs                map[string]*sql.DB // source name -> its server
	tgt                *sql.DB
	yaml               string           // the sources and the task, without spec.shardDDL
	next               map[string]int64 // shard table -> rows insert wrote
}

// newShardFixture sets up task name in the given shard mode, starts the
// agents and waits until both subtasks sync. Names derive from name: the
// sources src-NAME-a and src-NAME-b, the source database e2e_NAMEsrc, the
// target table e2e_NAME.orders.
func newShardFixture(t *testing.T, name, mode string, agents ...string) *shardFixture {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srvB, err := mariadbtest.Start(ctx, filepath.Join(t.TempDir(), "b"), mariadbtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srvB.Stop() })
	f := &shardFixture{c: c, task: name, db: "e2e_" + name + "src", tdb: "e2e_" + name, dst: "e2e_" + name + ".orders",
		a: "src-" + name + "-a", b: "src-" + name + "-b", dbs: map[string]*sql.DB{}, next: map[string]int64{}}
	f.shards = map[string][]string{f.a: {"orders_1", "orders_2"}, f.b: {"orders_3", "orders_4"}}
	srvs := map[string]*mariadbtest.Server{f.a: source, f.b: srvB}
	if f.tgt, err = target.DB(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.tgt.Close() })
	const cols = " (id BIGINT PRIMARY KEY, k INT NOT NULL, c VARCHAR(40) NOT NULL)"
	tuser, suser := "t_"+name, "u_"+name
	mustExec(t, f.tgt, "DROP DATABASE IF EXISTS "+f.tdb, "CREATE DATABASE "+f.tdb, "CREATE TABLE "+f.dst+cols,
		"DROP USER IF EXISTS '"+tuser+"'@'127.0.0.1'", "CREATE USER '"+tuser+"'@'127.0.0.1' IDENTIFIED BY 'tpw'",
		"GRANT ALL ON *.* TO '"+tuser+"'@'127.0.0.1'")
	env := strings.ToUpper(name)
	c.env["T_"+env+"_PW"], c.env["S_"+env+"_PW"] = "tpw", "spw"
	var yaml strings.Builder
	for _, src := range []string{f.a, f.b} {
		if err := units.ResetSync(ctx, f.tgt, name, src); err != nil {
			t.Fatal(err)
		}
		d, err := srvs[src].DB("")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		f.dbs[src] = d
		mustExec(t, d, "DROP DATABASE IF EXISTS "+f.db, "CREATE DATABASE "+f.db,
			"DROP USER IF EXISTS '"+suser+"'@'127.0.0.1'", "CREATE USER '"+suser+"'@'127.0.0.1' IDENTIFIED BY 'spw'",
			"GRANT SELECT, RELOAD, LOCK TABLES, SHOW VIEW, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '"+suser+"'@'127.0.0.1'")
		for _, tb := range f.shards[src] {
			mustExec(t, d, "CREATE TABLE "+f.db+"."+tb+cols)
		}
		fmt.Fprintf(&yaml, "apiVersion: dmplan/v1\nkind: Source\nmetadata:\n  name: %s\nspec:\n  host: 127.0.0.1\n  port: %d\n  user: %s\n  password: ${S_%s_PW}\n  flavor: mariadb\n---\n",
			src, srvs[src].Port, suser, env)
	}
	fmt.Fprintf(&yaml, `apiVersion: dmplan/v1
kind: Task
metadata:
  name: %s
spec:
  mode: incremental
  target: {host: 127.0.0.1, port: %d, user: %s, password: "${T_%s_PW}"}
  sources: [%s, %s]
  tables: ["%s.*"]
  shardMode: %s
  routes:
    - from: "%s.orders_*"
      to: %s
`, name, target.Port, tuser, env, f.a, f.b, f.db, mode, f.db, f.dst)
	f.yaml = yaml.String()
	for _, a := range agents {
		c.startAgent(a, "--lease-ttl", "3s")
	}
	waitWorkers(c, len(agents))
	c.writeYAML(name+".yaml", f.yaml)
	c.apply()
	f.waitSyncing()
	return f
}

// waitSyncing waits until both subtasks run sync without an error.
func (f *shardFixture) waitSyncing() {
	for _, src := range []string{f.a, f.b} {
		f.c.waitStage(60*time.Second, f.task, src, spec.StageRunning, func(s store.SubtaskStatus) bool { return s.Unit == "sync" && s.Error == "" })
	}
}

// resolve applies the task with these spec.shardDDL.resolve entries
// ({table: dst, ddl: ..., action: ...} flow mappings).
func (f *shardFixture) resolve(entries ...string) {
	y := f.yaml
	if len(entries) > 0 {
		y += "  shardDDL:\n    resolve:\n"
		for _, e := range entries {
			y += "      - " + e + "\n"
		}
	}
	f.c.writeYAML(f.task+".yaml", y)
	f.c.apply()
}

// hasNote reports whether shard table tb has the column note.
func (f *shardFixture) hasNote(tb string) bool {
	_, d := f.source(tb)
	var has int
	d.QueryRow("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = 'note'", f.db, tb).Scan(&has)
	return has > 0
}

// insert writes n rows into each shard table (ids disjoint per shard: the
// table's number times a million on), with a note where the shard has the
// column, and after each row updates an older one.
func (f *shardFixture) insert(n int, tables ...string) {
	t := f.c.t
	t.Helper()
	for _, tb := range tables {
		_, d := f.source(tb)
		base := int64(tb[len(tb)-1]-'0') * 1_000_000
		note := f.hasNote(tb)
		for range n {
			f.next[tb]++
			i := f.next[tb]
			q := fmt.Sprintf("INSERT INTO %s.%s (id, k, c) VALUES (%d, %d, 'r%d')", f.db, tb, base+i, i%7, i)
			if note {
				q = fmt.Sprintf("INSERT INTO %s.%s (id, k, c, note) VALUES (%d, %d, 'r%d', 'n%d')", f.db, tb, base+i, i%7, i, i)
			}
			mustExec(t, d, q, fmt.Sprintf("UPDATE %s.%s SET k = k + 1 WHERE id = %d", f.db, tb, base+(i+1)/2))
		}
	}
}

// source returns the server of a shard table.
func (f *shardFixture) source(tb string) (string, *sql.DB) {
	for src, tbs := range f.shards {
		for _, x := range tbs {
			if x == tb {
				return src, f.dbs[src]
			}
		}
	}
	f.c.t.Fatalf("no shard %s", tb)
	return "", nil
}

// digest is the row count and CRC sum of (id, k, c, note) over the
// union of the selects.
func digest(d *sql.DB, sel ...string) (n, sum int64) {
	d.QueryRow("SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', id, k, c, IFNULL(note, '-')))), 0) FROM ("+strings.Join(sel, " UNION ALL ")+") u").Scan(&n, &sum)
	return
}

// unionEqual reports whether the target table holds exactly the union
// of the shards (a shard without a note column counts NULL); targetNote
// is the target's expression for note.
func (f *shardFixture) unionEqual(targetNote string) (bool, error) {
	var n, sum int64
	for src, tbs := range f.shards {
		var sel []string
		for _, tb := range tbs {
			note := "NULL"
			if f.hasNote(tb) {
				note = "note"
			}
			sel = append(sel, fmt.Sprintf("SELECT id, k, c, %s AS note FROM %s.%s", note, f.db, tb))
		}
		x, y := digest(f.dbs[src], sel...)
		n, sum = n+x, sum+y
	}
	tn, tsum := digest(f.tgt, "SELECT id, k, c, "+targetNote+" AS note FROM "+f.dst)
	return n == tn && sum == tsum && n > 0, nil
}

// targetColumn is the type of a column of the target table ("" when absent).
func (f *shardFixture) targetColumn(name string) string {
	var typ string
	f.tgt.QueryRow("SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'orders' AND COLUMN_NAME = ?", f.tdb, name).Scan(&typ)
	return typ
}
