package store_test

import (
	"slices"
	"testing"
	"time"

	"github.com/dmplan/dmplan/units/job"
)

// A lock's life on a real etcd: shards join one by one, the join that
// completes it names its owner, a differing DDL leaves it unchanged, the
// owner marks it executed, and it goes away when every shard passed it.
func TestShardLockLifecycle(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	const ddl = "ALTER TABLE `shop`.`orders` ADD COLUMN note INT NULL"
	srcs := []string{"a", "b"}
	join := func(src, table, stmt string, tables ...string) job.ShardLock {
		t.Helper()
		l, err := s.JoinShardLock(ctx, job.ShardJoin{Task: "shop", Target: "shop.orders", Sources: srcs, Source: src,
			Tables: tables, Table: table, DDL: stmt}, now)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := join("a", "s.o1", ddl, "s.o1", "s.o2")
	if l.Complete() || l.Owner != "" || !slices.Equal(l.Awaited(), []string{"a:s.o2", "b:*"}) {
		t.Fatalf("after one join: %+v, awaited %v", l, l.Awaited())
	}
	if l = join("a", "s.o1", ddl, "s.o1", "s.o2"); len(l.Joined) != 1 {
		t.Fatalf("a second join of one shard counted twice: %+v", l)
	}
	if l = join("b", "s.o3", "ALTER TABLE x", "s.o3"); l.DDL != ddl || len(l.Joined) != 1 {
		t.Fatalf("a differing DDL changed the lock: %+v", l)
	}
	join("b", "s.o3", ddl, "s.o3")
	l = join("a", "s.o2", ddl, "s.o1", "s.o2")
	if !l.Complete() || l.Owner != "a:s.o2" || l.Executed {
		t.Fatalf("the completing join is not the owner: %+v", l)
	}
	if err := s.ShardLockDone(ctx, "shop", "shop.orders", ddl); err != nil {
		t.Fatal(err)
	}
	for i, shard := range []string{"a:s.o2", "a:s.o1", "b:s.o3"} {
		if err := s.AckShardLock(ctx, "shop", "shop.orders", shard, ddl); err != nil {
			t.Fatal(err)
		}
		_, ok, err := s.ShardLock(ctx, "shop", "shop.orders")
		if err != nil {
			t.Fatal(err)
		}
		if want := i < 2; ok != want {
			t.Fatalf("after %d acks the lock exists: %v, want %v", i+1, ok, want)
		}
	}
	ls, err := s.ShardLocks(ctx)
	if err != nil || len(ls) != 0 {
		t.Fatalf("locks left: %v %v", ls, err)
	}
}
