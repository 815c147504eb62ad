package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/mariadbtest"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/spec"
)

// auditSQL logs every change of the dataset's t1 into <db>_audit.<log> by
// triggers: on the source (the log is replicated to its replica, not to
// the target: the task selects <db>.* only) and on the target (where it
// records what the sync unit applied). Per row the two logs must be equal.
func (d *dataset) auditSQL(log string) []string {
	a := "`" + d.db + "_audit`"
	trig := func(op, when, row string) string {
		return fmt.Sprintf("CREATE TRIGGER `%s`.t1_%s_%s AFTER %s ON `%s`.t1 FOR EACH ROW INSERT INTO %s.%s (op, id, k, c, v) VALUES ('%s', %s.id, %s.k, %s.c, %s.v)",
			d.db, log, op, when, d.db, a, log, op, row, row, row, row)
	}
	return []string{
		"CREATE DATABASE " + a,
		"CREATE TABLE " + a + "." + log + " (seq BIGINT AUTO_INCREMENT PRIMARY KEY, op CHAR(1), id BIGINT, k INT, c VARCHAR(120), v DECIMAL(12,2))",
		trig("I", "INSERT", "NEW"), trig("U", "UPDATE", "NEW"), trig("D", "DELETE", "OLD"),
	}
}

// auditSame compares the source's and the target's logs per row id.
func (d *dataset) auditSame(t *testing.T, src, tgt *sql.DB) {
	t.Helper()
	read := func(db *sql.DB, log string) map[int64][]string {
		rows, err := db.Query("SELECT id, op, k, c, COALESCE(v, -1) FROM `" + d.db + "_audit`." + log + " ORDER BY seq")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[int64][]string{}
		for rows.Next() {
			var id int64
			var op, k, c, v string
			if err := rows.Scan(&id, &op, &k, &c, &v); err != nil {
				t.Fatal(err)
			}
			out[id] = append(out[id], op+"("+k+","+c+","+v+")")
		}
		return out
	}
	want, got := read(src, "log_src"), read(tgt, "log_dst")
	n := 0
	for id, w := range want {
		n += len(w)
		if !slices.Equal(w, got[id]) {
			t.Errorf("changes of t1 row %d: source %v, target applied %v", id, w, got[id])
		}
	}
	for id, g := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("changes of t1 row %d applied on the target but not made on the source: %v", id, g)
		}
	}
	if n == 0 {
		t.Fatal("the audit logged no change")
	}
	t.Logf("audit: %d changes of %d rows, each applied exactly once", n, len(want))
}

// A source fails over to its native MariaDB replica: the primary stops,
// the replica is promoted, the Source is re-pointed with apply. The plan
// says what will happen; sync moves to the new server by GTID (its
// checkpoint's file:pos is never read there), and every change, before
// and after the promotion, arrives exactly once.
func TestSourceFailoverToPromotedReplica(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	primary, err := mariadbtest.Start(ctx, filepath.Join(dir, "primary"), mariadbtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Stop()
	replica, err := mariadbtest.Start(ctx, filepath.Join(dir, "replica"), mariadbtest.Options{Extra: []string{"log_slave_updates=ON"}})
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Stop()
	pdb, err := primary.DB("")
	if err != nil {
		t.Fatal(err)
	}
	defer pdb.Close()
	rdb, err := replica.DB("")
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	for _, q := range []string{"CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'repl-pw'", "GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1'"} {
		if _, err := pdb.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='repl', MASTER_PASSWORD='repl-pw', MASTER_USE_GTID=slave_pos", primary.Port),
		"START SLAVE",
	} {
		if _, err := rdb.Exec(q); err != nil {
			t.Fatal(err)
		}
	}

	c := newCluster(t)
	d := newDatasetOn(t, c, primary, "failover", 5000)
	d.fill(d.tgt, 5000)
	d.exec(d.src, d.auditSQL("log_src")...)
	d.exec(d.tgt, "DROP DATABASE IF EXISTS `"+d.db+"_audit`")
	d.exec(d.tgt, d.auditSQL("log_dst")...)
	c.startAgent("a")
	waitWorkers(c, 1)
	c.writeYAML("source.yaml", d.sourceYAML())
	c.writeYAML("task.yaml", d.incrementalTaskYAML("running", ""))
	c.apply()
	c.waitStage(60*time.Second, d.name, "src-"+d.name, spec.StageRunning, syncing(""))

	// Changes on the primary, replicated to the target and to the replica.
	d.changeRows(t, 5000)
	d.waitEqual(90 * time.Second)
	var pgtid string
	if err := pdb.QueryRow("SELECT @@gtid_binlog_pos").Scan(&pgtid); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the replica to catch up", func() (bool, error) {
		var r string
		err := rdb.QueryRow("SELECT @@gtid_slave_pos").Scan(&r)
		return r == pgtid, err
	})

	// Promote the replica: the primary stops, the replica stops
	// replicating and takes writes.
	if err := primary.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL read_only = OFF"} {
		if _, err := rdb.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	d.src.Close()
	d.srv, d.src = replica, rdb

	c.writeYAML("source.yaml", d.sourceYAML())
	plan := c.dmplan("plan", "-f", filepath.Join(c.dir, "yaml"))
	if !strings.Contains(plan, "sync resumes by GTID on the new server if it holds the checkpoints' GTIDs; otherwise the subtask stops with an error") {
		t.Fatalf("plan does not say what a host/port change does:\n%s", plan)
	}
	c.apply()
	d.changeRows(t, 5000)
	took := d.waitEqual(90 * time.Second)
	t.Logf("after the promotion the target equals the new source %s after the writes stopped", took)
	// status shows a position in the new server's binlog, with the GTIDs
	// the promoted server wrote.
	var rid int
	if err := rdb.QueryRow("SELECT @@server_id").Scan(&rid); err != nil {
		t.Fatal(err)
	}
	st, _ := c.waitStage(60*time.Second, d.name, "src-"+d.name, spec.StageRunning, func(s store.SubtaskStatus) bool {
		return strings.HasPrefix(s.BinlogFile, "mysql-bin.") && strings.Contains(s.GTID, fmt.Sprintf("-%d-", rid))
	})
	if st.Error != "" {
		t.Errorf("status after the move: %+v", st)
	}
	d.auditSame(t, rdb, d.tgt)
	if !strings.Contains(tail(c.agents["a"].log, 200000), "sync continues by GTID") {
		t.Errorf("the agent's log does not say the checkpoint moved by GTID")
	}
}
