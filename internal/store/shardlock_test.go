package store_test

import (
	"fmt"
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

// An apply that deletes a task deletes its shard DDL locks and schema
// records with it (in its commit transaction; those of more than 20
// deleted tasks right after it): a task created again under the name
// starts with none. Other tasks' records stay.
func TestShardRecordsGoWithTheirTask(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	want := genState(3, 30, 1)
	if _, err := s.Apply(ctx, plan(0, want), record("alice")); err != nil {
		t.Fatal(err)
	}
	name := func(i int) string { return fmt.Sprintf("task-%05d", i) }
	for _, i := range append(seq(0, 25), 29) {
		if _, err := s.JoinShardLock(ctx, job.ShardJoin{Task: name(i), Target: "shop.orders", Sources: []string{"a"}, Source: "a",
			Tables: []string{"s.o1", "s.o2"}, Table: "s.o1", DDL: "ALTER TABLE `shop`.`orders` ADD COLUMN x INT NULL"}, now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateShardSchema(ctx, name(i), "shop.orders", func(job.ShardSchema, bool) (*job.ShardSchema, bool) {
			return &job.ShardSchema{Task: name(i), Target: "shop.orders", Since: now}, true
		}); err != nil {
			t.Fatal(err)
		}
	}
	records := func() (locks, schemas []string) {
		t.Helper()
		ls, err := s.ShardLocks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			locks = append(locks, l.Task)
		}
		rs, err := s.ShardSchemas(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			schemas = append(schemas, r.Task)
		}
		return locks, schemas
	}
	deleteTasks := func(what string, tasks []int, left []string) {
		t.Helper()
		snap, err := s.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range tasks {
			delete(want.Tasks, name(i))
		}
		if _, err := s.Apply(ctx, plan(snap.Revision, want), record("bob")); err != nil {
			t.Fatal(err)
		}
		if locks, schemas := records(); !slices.Equal(locks, left) || !slices.Equal(schemas, left) {
			t.Fatalf("%s: shard locks of %v and schema records of %v left, want %v", what, locks, schemas, left)
		}
	}
	var left []string
	for _, i := range append(seq(1, 25), 29) {
		left = append(left, name(i))
	}
	deleteTasks("one task deleted", []int{0}, left)
	deleteTasks("24 tasks deleted", seq(1, 25), []string{name(29)})

	// Created again: no lock, no record.
	snap, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want.Tasks[name(0)] = genState(3, 30, 1).Tasks[name(0)]
	if _, err := s.Apply(ctx, plan(snap.Revision, want), record("carol")); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.ShardLock(ctx, name(0), "shop.orders"); err != nil || ok {
		t.Fatalf("the task created again has a shard lock: %v %v", ok, err)
	}
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}
