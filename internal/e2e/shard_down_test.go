package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/dmplan/dmplan/units/job"
)

// A pessimistic lock open while the only agent is down (SIGKILL), so
// nobody serves either source — in particular not source b, whose shards
// have not reached the DDL. Source a's two shards open the lock and hold;
// the agent is killed and its lease expires; writes go on on all four
// shards, and b's first shard runs the ALTER while nobody reads its
// binlog. The lock stays in etcd (no lease) with a's shards joined and b
// awaited, and the target has no new column. The agent comes back: b's
// shard joins from the binlog read again, b's second shard runs the
// ALTER, the lock completes and is passed, the held changes are replayed,
// and the target equals the union of the shards: nothing lost or doubled.
func TestShardDDLSourceAgentDown(t *testing.T) {
	f := newShardFixture(t, "dshard", "pessimistic", "a")
	c, ctx := f.c, context.Background()
	const alter = "ALTER TABLE %s.%s ADD COLUMN note VARCHAR(20) NULL"
	lock := func(what string, cond func(job.ShardLock) bool) job.ShardLock {
		var l job.ShardLock
		waitFor(t, 60*time.Second, what, func() (bool, error) {
			ls, err := c.st.ShardLocks(ctx)
			if len(ls) == 1 {
				l = ls[0]
			}
			return err == nil && len(ls) == 1 && cond(l), err
		})
		return l
	}
	all := []string{"orders_1", "orders_2", "orders_3", "orders_4"}
	f.insert(10, all...)
	waitFor(t, 60*time.Second, "target = union of the shards", func() (bool, error) { return f.unionEqual("NULL") })

	// Source a's shards open the lock.
	for _, tb := range all[:2] {
		mustExec(t, f.dbs[f.a], fmt.Sprintf(alter, f.db, tb))
	}
	f.insert(10, all...) // held on a's shards, applied on b's
	lock("a's 2 shards at the lock", func(l job.ShardLock) bool { return len(l.Joined) == 2 })

	// The only agent killed: nobody serves a or b.
	c.agents["a"].kill()
	waitWorkers(c, 0) // its lease expired: it is down for the control plane too
	f.insert(10, all...)
	mustExec(t, f.dbs[f.b], fmt.Sprintf(alter, f.db, "orders_3")) // while nobody reads b's binlog
	f.insert(10, all...)
	resp, err := c.cli.Get(ctx, "/dmplan/v1/shardlock/"+f.task+"/"+f.dst)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("the lock of %s is not in etcd with its agent down: %v %v", f.dst, resp, err)
	}
	var l job.ShardLock
	if err := json.Unmarshal(resp.Kvs[0].Value, &l); err != nil {
		t.Fatal(err)
	}
	a1, a2 := job.ShardName(f.a, f.db+".orders_1"), job.ShardName(f.a, f.db+".orders_2")
	if resp.Kvs[0].Lease != 0 || len(l.Joined) != 2 || l.Joined[a1].IsZero() || l.Joined[a2].IsZero() || l.Executed || l.Complete() {
		t.Fatalf("the lock with its agent down (lease %d): %+v", resp.Kvs[0].Lease, l)
	}
	if _, ok := l.Expected[f.b]; ok {
		t.Errorf("the lock expects b's shards before b reached the DDL: %+v", l)
	}
	if f.targetColumn("note") != "" {
		t.Fatal("the target has the column before every shard reached the DDL")
	}

	// The agent comes back: b's first shard joins, its second runs the
	// ALTER, the lock completes.
	c.startAgent("a", "--lease-ttl", "3s")
	lock("b's first shard to join after the agent came back", func(l job.ShardLock) bool { return len(l.Joined) == 3 && !l.Executed })
	if f.targetColumn("note") != "" {
		t.Fatal("the target has the column with 3 of 4 shards at the lock")
	}
	f.insert(10, all...)
	mustExec(t, f.dbs[f.b], fmt.Sprintf(alter, f.db, "orders_4"))
	f.insert(10, all...)
	waitFor(t, 60*time.Second, "the lock to be passed by every shard", func() (bool, error) {
		ls, err := c.st.ShardLocks(ctx)
		return err == nil && len(ls) == 0, err
	})
	f.insert(10, all...)
	waitFor(t, 60*time.Second, "target = union of the shards", func() (bool, error) { return f.unionEqual("note") })
	f.waitSyncing()
}
