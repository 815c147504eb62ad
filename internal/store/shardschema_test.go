package store_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/dmplan/dmplan/internal/shardjoin"
	"github.com/dmplan/dmplan/units/job"
)

// Shards deciding at once each see the others' result: every update of
// the optimistic record is a compare-and-set on a real etcd, retried on
// a lost race with the record read again.
func TestShardSchemaConcurrentUpdates(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	const task, target = "shop", "shop/x.orders" // a target name with '/' is escaped in the key
	if _, ok, err := s.ShardSchema(ctx, task, target); ok || err != nil {
		t.Fatalf("a record before any update: %v %v", ok, err)
	}
	base := shardjoin.Table{Columns: []shardjoin.Column{{Name: "id", Def: "bigint(20) NOT NULL"}}}
	const n = 8
	var wg sync.WaitGroup
	calls := make([]int, n)
	for i := range n {
		wg.Go(func() {
			shard := fmt.Sprintf("a:s.o%d", i)
			_, err := s.UpdateShardSchema(ctx, task, target, func(r job.ShardSchema, ok bool) (*job.ShardSchema, bool) {
				calls[i]++
				if !ok {
					r = job.ShardSchema{Task: task, Target: target, Base: base, Sources: []string{"a"}, Expected: map[string][]string{}}
				}
				if r.Shards == nil {
					r.Shards = map[string]job.ShardTable{}
				}
				tb := base
				tb.Columns = append(append([]shardjoin.Column(nil), base.Columns...), shardjoin.Column{Name: fmt.Sprintf("c%d", i), Def: "int(11) DEFAULT NULL"})
				r.Shards[shard] = job.ShardTable{Table: tb, At: "f:1"}
				r.Expected["a"] = append(r.Expected["a"], fmt.Sprintf("s.o%d", i))
				return &r, true
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	r, ok, err := s.ShardSchema(ctx, task, target)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if len(r.Shards) != n || len(r.Expected["a"]) != n {
		t.Fatalf("a lost update: %d shards, expected %v", len(r.Shards), r.Expected)
	}
	if j := r.Joined(); len(j.Columns) != n+1 {
		t.Errorf("joined %s", j)
	}
	retried := 0
	for _, c := range calls {
		retried += c - 1
	}
	t.Logf("%d updates, %d retried after a lost race", n, retried)
	// Not writing leaves the record as it is.
	if _, err := s.UpdateShardSchema(ctx, task, target, func(job.ShardSchema, bool) (*job.ShardSchema, bool) { return nil, false }); err != nil {
		t.Fatal(err)
	}
	all, err := s.ShardSchemas(ctx)
	if err != nil || len(all) != 1 || all[0].Target != target || len(all[0].Shards) != n {
		t.Fatalf("ShardSchemas: %+v %v", all, err)
	}
}
