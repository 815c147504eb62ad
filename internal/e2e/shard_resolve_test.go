package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dmplan/dmplan/units/job"
)

// A pessimistic lock blocked on a shard that does not run the DDL (3 of 4
// shards reached it, their changes held). The task is deleted while the
// lock is open: the apply deletes the lock from etcd, the held changes stay
// in the target with the checkpoints. The task created again under the
// same name resumes from them and joins a new lock (not the stale one).
// An execute resolution, applied as a plan, runs the DDL at once; the held
// changes are replayed (and the fourth shard's, read again from before the
// DDL, are not applied twice), the fourth shard passes the DDL when it
// runs it, and the target equals the union of the shards: nothing lost or
// doubled.
func TestShardDDLLockExecuteAfterRecreate(t *testing.T) {
	f := newShardFixture(t, "rshard", "pessimistic", "a", "b")
	c := f.c
	const alter = "ALTER TABLE %s.%s ADD COLUMN note VARCHAR(20) NULL"
	locks := func() []job.ShardLock {
		ls, err := c.st.ShardLocks(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return ls
	}
	lock := func(what string, cond func(job.ShardLock) bool) job.ShardLock {
		var l job.ShardLock
		waitFor(t, 60*time.Second, what, func() (bool, error) {
			ls := locks()
			if len(ls) == 1 {
				l = ls[0]
			}
			return len(ls) == 1 && cond(l), nil
		})
		return l
	}
	all := []string{"orders_1", "orders_2", "orders_3", "orders_4"}
	f.insert(20, all...)
	for _, tb := range all[:3] {
		_, d := f.source(tb)
		mustExec(t, d, fmt.Sprintf(alter, f.db, tb))
	}
	f.insert(20, all...) // held on the three, applied on orders_4
	old := lock("3 of 4 shards at the lock", func(l job.ShardLock) bool { return len(l.Joined) == 3 })
	if f.targetColumn("note") != "" {
		t.Fatal("the target has the column before the lock completed")
	}

	// Delete the task while the lock is open: its lock goes with it.
	sources := f.yaml[:strings.LastIndex(f.yaml, "---\napiVersion: dmplan/v1\nkind: Task")]
	c.writeYAML(f.task+".yaml", sources)
	if out := c.dmplan("plan", "-f", c.dir+"/yaml"); !strings.Contains(out, "its shard DDL locks and shard schema records are deleted from etcd") {
		t.Errorf("the plan deleting the task does not say what becomes of its lock:\n%s", out)
	}
	c.apply()
	if ls := locks(); len(ls) != 0 {
		t.Fatalf("the deleted task's lock is still in etcd: %+v", ls)
	}
	waitFor(t, 30*time.Second, "the deleted task's subtasks to stop", func() (bool, error) {
		_, okA, err := c.status(f.task, f.a)
		_, okB, _ := c.status(f.task, f.b)
		return !okA && !okB, err
	})
	f.insert(10, all...)

	// Created again: it resumes from the checkpoints and its holds, and
	// joins a new lock.
	c.writeYAML(f.task+".yaml", f.yaml)
	c.apply()
	f.waitSyncing()
	l := lock("the held shards to join the lock again", func(l job.ShardLock) bool { return len(l.Joined) == 3 })
	for shard, at := range l.Joined {
		if !at.After(old.Joined[shard]) {
			t.Errorf("shard %s: the lock of the task created again carries the old join (%s)", shard, at)
		}
	}
	if l.Executed || f.targetColumn("note") != "" {
		t.Fatalf("the lock ran before it was complete or resolved: %+v", l)
	}

	// Resolved: execute the DDL now.
	f.resolve("{table: " + f.dst + ", ddl: '" + l.DDL + "', action: execute}")
	waitFor(t, 60*time.Second, "the executed DDL on the target", func() (bool, error) { return f.targetColumn("note") == "varchar(20)", nil })
	// The fourth shard writes nothing until it runs the DDL too: its rows
	// of the old shape no longer fit the target (docs/shard-ddl.md).
	f.insert(10, all[:3]...)
	waitFor(t, 60*time.Second, "target = union of the shards, the fourth without the column", func() (bool, error) { return f.unionEqual("note") })
	l = lock("the lock executed, awaiting the fourth shard", func(l job.ShardLock) bool { return l.Executed })
	if len(l.Joined) != 3 {
		t.Errorf("the lock counts %d shards, want 3: %+v", len(l.Joined), l)
	}
	// The fourth shard runs it later: it passes it, and the lock is gone.
	mustExec(t, f.dbs[f.b], fmt.Sprintf(alter, f.db, "orders_4"))
	f.insert(10, all...)
	waitFor(t, 60*time.Second, "the lock to be passed by every shard", func() (bool, error) { return len(locks()) == 0, nil })
	waitFor(t, 60*time.Second, "target = union of the shards", func() (bool, error) { return f.unionEqual("note") })
	f.waitSyncing()
}
