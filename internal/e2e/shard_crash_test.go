package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/spec"
	"github.com/dmplan/dmplan/units/job"
)

// Optimistic mode's crash window: the agent syncing a shard is killed
// (SIGKILL) after it recorded the shard's DDL in etcd (shardschema) and
// before the resulting ALTER ran on the target. The window is held open
// for real: a transaction on the target keeps the table's metadata lock,
// so the agent's ALTER waits; the agent is killed there and its waiting
// statement killed with its connection. The subtask resumes on the other
// agent: the DDL is not decided again (the record is the same), the
// target gets the column once, and the target equals the union of the
// shards — no row lost or doubled. Then the task is deleted and created
// again: its new record starts from the shard views.
func TestShardDDLOptimisticCrash(t *testing.T) {
	f := newShardFixture(t, "cshard", "optimistic", "a", "b")
	c, ctx := f.c, context.Background()
	all := []string{"orders_1", "orders_2", "orders_3", "orders_4"}
	f.insert(20, all...)
	waitFor(t, 60*time.Second, "target = union of the shards", func() (bool, error) { return f.unionEqual("NULL") })

	// Hold the target table's metadata lock: the agent's ALTER will wait.
	conn, err := f.tgt.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mustExecConn := func(q string) {
		t.Helper()
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	mustExecConn("BEGIN")
	mustExecConn("SELECT COUNT(*) FROM " + f.dst)

	mustExec(t, f.dbs[f.a], "ALTER TABLE "+f.db+".orders_1 ADD COLUMN note VARCHAR(20) NULL")
	f.insert(10, "orders_1")
	f.insert(10, "orders_2", "orders_3", "orders_4")
	shard := job.ShardName(f.a, f.db+".orders_1")
	var recorded job.ShardTable
	waitFor(t, 60*time.Second, "the DDL recorded in etcd", func() (bool, error) {
		r, ok, err := c.st.ShardSchema(ctx, f.task, f.dst)
		recorded = r.Shards[shard]
		return ok && strings.Contains(recorded.DDL, "ADD COLUMN note"), err
	})
	var alterID int64
	waitFor(t, 60*time.Second, "the agent's ALTER waiting on the target", func() (bool, error) {
		err := f.tgt.QueryRow("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'ALTER TABLE `" + f.tdb +
			"`.`orders` ADD%' AND STATE LIKE 'Waiting for table metadata lock%'").Scan(&alterID)
		return err == nil && alterID > 0, nil
	})
	st, _, err := c.status(f.task, f.a)
	if err != nil || st.Worker == "" {
		t.Fatalf("who serves %s: %+v %v", f.a, st, err)
	}
	c.agents[st.Worker].kill()
	mustExec(t, f.tgt, fmt.Sprintf("KILL %d", alterID)) // its connection died with it
	mustExecConn("ROLLBACK")
	if f.targetColumn("note") != "" {
		t.Fatal("the killed agent's ALTER reached the target")
	}
	f.insert(10, "orders_1")

	// The other agent resumes the subtask: the DDL is read again, found
	// decided, and the target brought to the join once.
	c.waitStage(60*time.Second, f.task, f.a, spec.StageRunning, func(s store.SubtaskStatus) bool {
		return s.Worker != st.Worker && s.Unit == "sync" && s.Error == ""
	})
	waitFor(t, 60*time.Second, "the column on the target", func() (bool, error) { return f.targetColumn("note") == "varchar(20)", nil })
	f.insert(10, "orders_1")
	f.insert(10, "orders_2", "orders_3", "orders_4")
	waitFor(t, 60*time.Second, "target = union of the shards after the crash", func() (bool, error) { return f.unionEqual("note") })
	r, _, err := c.st.ShardSchema(ctx, f.task, f.dst)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Shards[shard]; got.At != recorded.At || !got.Since.Equal(recorded.Since) || len(r.Conflicts) != 0 {
		t.Errorf("the DDL was decided again after the crash: before %+v, after %+v (conflicts %v)", recorded, got, r.Conflicts)
	}
	f.waitSyncing()

	// The task deleted and created again: its record goes from etcd; the
	// new one is seeded from the shard views that stayed with the
	// checkpoints, so a narrower column on another shard does not narrow
	// the target (orders_1 still writes 20 characters).
	sources := f.yaml[:strings.LastIndex(f.yaml, "---\napiVersion: dmplan/v1\nkind: Task")]
	c.writeYAML(f.task+".yaml", sources)
	c.apply()
	if _, ok, err := c.st.ShardSchema(ctx, f.task, f.dst); err != nil || ok {
		t.Fatalf("the deleted task's schema record is still in etcd: %v %v", ok, err)
	}
	c.writeYAML(f.task+".yaml", f.yaml)
	c.apply()
	f.waitSyncing()
	mustExec(t, f.dbs[f.b], "ALTER TABLE "+f.db+".orders_3 ADD COLUMN note VARCHAR(10) NULL")
	f.insert(10, "orders_1", "orders_3")
	waitFor(t, 60*time.Second, "the new record with orders_3's DDL", func() (bool, error) {
		r, ok, err := c.st.ShardSchema(ctx, f.task, f.dst)
		return ok && r.Shards[job.ShardName(f.b, f.db+".orders_3")].DDL != "", err
	})
	waitFor(t, 60*time.Second, "target = union of the shards after the task was created again", func() (bool, error) { return f.unionEqual("note") })
	if typ := f.targetColumn("note"); typ != "varchar(20)" {
		t.Errorf("the task created again narrowed the target's note to %s", typ)
	}
	r, _, _ = c.st.ShardSchema(ctx, f.task, f.dst)
	if e, ok := r.Shards[shard]; !ok || !strings.Contains(e.Table.String(), "varchar(20)") {
		t.Errorf("the new record lacks orders_1's definition from its view: %+v", r.Shards)
	}
	f.waitSyncing()
}
