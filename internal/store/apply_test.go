package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
	"github.com/google/go-cmp/cmp"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestReadEmpty(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	snap, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Revision != 0 || snap.Gen != "" || len(snap.Workers) != 0 {
		t.Errorf("empty store: Revision=%d Gen=%q Workers=%v, want 0, \"\", none", snap.Revision, snap.Gen, snap.Workers)
	}
	if d := cmp.Diff(genState(0, 0, 0), snap.State); d != "" {
		t.Errorf("empty store state (-want +got):\n%s", d)
	}
}

func TestApplyThenRead(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	want := genState(20, 50, 1)
	rec, err := s.Apply(ctx, plan(0, want), record("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Seq != 1 || rec.ID != "1" || rec.Gen == "" || rec.Revision == 0 || rec.PlanDigest == "" {
		t.Errorf("first apply record = %+v", rec)
	}
	snap, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, snap.State); d != "" {
		t.Errorf("read after apply (-want +got):\n%s", d)
	}
	if snap.Revision != rec.Revision || snap.Gen != rec.Gen || snap.Head.Seq != 1 {
		t.Errorf("snapshot Revision=%d Gen=%s Seq=%d, want %d %s 1", snap.Revision, snap.Gen, snap.Head.Seq, rec.Revision, rec.Gen)
	}

	// A second apply from that snapshot replaces the whole state:
	// deleted objects are gone, nothing of the first state lingers.
	want2 := genState(5, 7, 2)
	rec2, err := s.Apply(ctx, plan(snap.Revision, want2), record("bob"))
	if err != nil {
		t.Fatal(err)
	}
	snap2, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want2, snap2.State); d != "" {
		t.Errorf("read after second apply (-want +got):\n%s", d)
	}
	if snap2.Head.PrevGen != rec.Gen || rec2.Seq != 2 {
		t.Errorf("second head = %+v, want prevGen %s and seq 2", snap2.Head, rec.Gen)
	}
	// Member keys are derived for agents: one per task x source. Each
	// object has one version left: what the second apply superseded
	// or deleted is gone.
	var members int64
	for _, task := range want2.Tasks {
		members += int64(len(task.Sources))
	}
	for p, want := range map[string]int64{
		store.PfxMember: members, store.PfxSource: 5, store.PfxTask: 7, store.PfxBound: 5,
		store.PfxOpen: 0, store.PfxLog: 0, store.PfxStaging: 0,
	} {
		if got := keyCount(t, etcd.Client, p); got != want {
			t.Errorf("%d keys under %s, want %d", got, p, want)
		}
	}
}

func TestStalePlanWritesNothing(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	want := genState(3, 3, 1)
	if _, err := s.Apply(ctx, plan(0, want), record("alice")); err != nil {
		t.Fatal(err)
	}
	before, err := etcd.Client.Get(ctx, store.KeyHead)
	if err != nil {
		t.Fatal(err)
	}
	for _, base := range []int64{0, before.Kvs[0].ModRevision - 1, before.Kvs[0].ModRevision + 5} {
		_, err := s.Apply(ctx, plan(base, genState(4, 4, 2)), record("bob"))
		if !errors.Is(err, store.ErrStale) {
			t.Errorf("apply from revision %d: error %v, want ErrStale", base, err)
		}
	}
	after, err := etcd.Client.Get(ctx, store.KeyHead)
	if err != nil {
		t.Fatal(err)
	}
	if after.Header.Revision != before.Header.Revision {
		t.Errorf("stale applies moved the store from revision %d to %d", before.Header.Revision, after.Header.Revision)
	}
	snap, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, snap.State); d != "" {
		t.Errorf("state after stale applies (-want +got):\n%s", d)
	}
}

func TestConcurrentAppliesNeverInterleave(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	const appliers, rounds = 12, 4
	base := int64(0)
	for round := range rounds {
		plans := make([]*planner.Plan, appliers)
		for i := range plans {
			plans[i] = plan(base, genState(30+i, 60+i, 100*round+i+1))
		}
		errs := make([]error, appliers)
		recs := make([]store.ApplyRecord, appliers)
		var wg sync.WaitGroup
		for i := range appliers {
			wg.Go(func() {
				// A store per applier, as separate processes would have.
				recs[i], errs[i] = store.New(etcd.Client).Apply(ctx, plans[i], record(fmt.Sprint("user", i)))
			})
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: appliers %d and %d both won", round, winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, store.ErrStale):
				t.Fatalf("round %d: applier %d: %v", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no applier won", round)
		}
		snap, err := s.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(plans[winner].Desired, snap.State); d != "" {
			t.Fatalf("round %d: state is not the winner's (-want +got):\n%s", round, d)
		}
		if snap.Revision != recs[winner].Revision {
			t.Errorf("round %d: head revision %d, winner's record says %d", round, snap.Revision, recs[winner].Revision)
		}
		// Losers removed what they staged, the winner swept what it
		// superseded: one version per object.
		for p, want := range map[string]int64{
			store.PfxTask: int64(len(snap.State.Tasks)), store.PfxSource: int64(len(snap.State.Sources)),
			store.PfxOpen: 0, store.PfxLog: 0, store.PfxStaging: 0,
		} {
			if n := keyCount(t, etcd.Client, p); n != want {
				t.Errorf("round %d: %d keys under %s, want %d", round, n, p, want)
			}
		}
		base = snap.Revision
	}
}

func TestInvalidNamesWriteNothing(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	st := genState(2, 2, 1)
	src := st.Sources["mysql-0000"]
	src.Name = "a/b"
	st.Sources["a/b"] = src
	_, err := s.Apply(ctx, plan(0, st), record("alice"))
	if !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("apply with source %q: error %v, want ErrInvalid", "a/b", err)
	}
	if n := keyCount(t, etcd.Client, store.Prefix); n != 0 {
		t.Errorf("%d keys written by a refused apply", n)
	}
	if _, err := s.Apply(ctx, nil, record("alice")); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("apply nil plan: error %v, want ErrInvalid", err)
	}

	// Onto the state it was planned from (apply -f), which checks only
	// the names it writes: a bad task name, and a good task that names a
	// bad source, are refused before anything is written.
	good := genState(2, 2, 1)
	rec, err := s.Apply(ctx, plan(0, good), record("alice"))
	if err != nil {
		t.Fatal(err)
	}
	revBefore := keyRevision(t)
	for name, bad := range map[string]func(st planner.State){
		"task a/b": func(st planner.State) {
			tk := st.Tasks["task-00000"]
			tk.Name = "a/b"
			st.Tasks["a/b"] = tk
		},
		"source a/b in a task": func(st planner.State) {
			tk := st.Tasks["task-00001"]
			tk.Sources = append(slices.Clone(tk.Sources), "a/b")
			st.Tasks["task-00001"] = tk
		},
	} {
		want := genState(2, 2, 1)
		bad(want)
		if _, err := s.ApplyOnto(ctx, plan(rec.Revision, want), &good, record("alice")); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("apply onto its base with %s: error %v, want ErrInvalid", name, err)
		}
	}
	if rev := keyRevision(t); rev != revBefore {
		t.Errorf("refused applies moved etcd from revision %d to %d", revBefore, rev)
	}
}

// keyRevision is etcd's current revision.
func keyRevision(t *testing.T) int64 {
	t.Helper()
	resp, err := etcd.Client.Get(context.Background(), store.KeyHead)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

// TestDefaultLimitsAreInForce makes sure the server of the big-plan test
// really has etcd's defaults, so that test proves something.
func TestDefaultLimitsAreInForce(t *testing.T) {
	d := defaultLimitsServer(t)
	ops := make([]clientv3.Op, 129)
	for i := range ops {
		ops[i] = clientv3.OpPut(fmt.Sprintf("/x/%d", i), "v")
	}
	if _, err := d.Client.Txn(context.Background()).Then(ops...).Commit(); err == nil {
		t.Fatal("a 129-op txn succeeded against the default-limits server")
	}
}
