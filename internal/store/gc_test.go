package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/google/go-cmp/cmp"
)

// TestCancelMidStaging: an apply whose context ends while it is staging
// leaves the head alone and removes what it staged.
func TestCancelMidStaging(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	first := genState(10, 10, 1)
	rec, err := s.Apply(ctx, plan(0, first), record("alice"))
	if err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	store.SetStageHook(s, func(chunk int) {
		if chunk == 3 {
			cancel()
		}
	})
	_, err = s.Apply(actx, plan(rec.Revision, genState(300, 300, 2)), record("alice"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled apply: error %v, want context.Canceled", err)
	}
	snap, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Revision != rec.Revision || !cmp.Equal(first, snap.State) {
		t.Errorf("head moved by a cancelled apply: revision %d, want %d", snap.Revision, rec.Revision)
	}
	if gens := openGens(t, s); len(gens) != 0 {
		t.Errorf("open generations after cancelled apply: %v, want none", gens)
	}
	if n := keyCount(t, etcd.Client, store.PfxTask); n != 10 {
		t.Errorf("%d task versions after cancelled apply, want the 10 of the head", n)
	}
}

// TestCrashMidStagingIsCollected: an applier that dies while staging
// (its client closes, its lease is not kept alive) leaves its generation
// behind; the next apply collects it once the claim's lease has expired.
func TestCrashMidStagingIsCollected(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	rec, err := s.Apply(ctx, plan(0, genState(10, 10, 1)), record("alice"))
	if err != nil {
		t.Fatal(err)
	}
	cli, err := etcd.Server.Client() // a second client, as another process would have
	if err != nil {
		t.Fatal(err)
	}
	crashing := store.New(cli, store.WithLeaseTTL(2*time.Second), store.WithParallel(1))
	dead, crashed3 := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(dead) })
	store.SetStageHook(crashing, func(chunk int) {
		if chunk == 3 {
			cli.Close() // the process dies: nothing more reaches etcd...
			close(crashed3)
			<-dead // ...and it runs no cleanup
		}
	})
	go crashing.Apply(ctx, plan(rec.Revision, genState(300, 300, 2)), record("crash"))
	<-crashed3

	gens := openGens(t, s)
	if len(gens) != 1 {
		t.Fatalf("open generations after crash: %v, want the crashed one", gens)
	}
	crashed := gens[0]
	if n := keyCount(t, etcd.Client, store.PfxLog); n != 3 {
		t.Fatalf("%d log chunks after the crash, want the crashed apply's 3", n)
	}
	// While the claim lives, GC leaves the generation alone.
	if del, err := s.GC(ctx); err != nil || len(del) != 0 {
		t.Fatalf("GC with a live claim deleted %v (err %v)", del, err)
	}
	waitFor(t, "the crashed applier's claim to expire", func() bool {
		return keyCount(t, etcd.Client, store.PfxStaging+crashed) == 0
	})

	if _, err := s.Apply(ctx, plan(rec.Revision, genState(5, 5, 3)), record("bob")); err != nil {
		t.Fatal(err)
	}
	if got := openGens(t, s); len(got) != 0 {
		t.Errorf("open generations after the next apply: %v, want none (%s collected)", got, crashed)
	}
	for p, want := range map[string]int64{store.PfxTask: 5, store.PfxSource: 5, store.PfxLog: 0, store.PfxStaging: 0} {
		if n := keyCount(t, etcd.Client, p); n != want {
			t.Errorf("%d keys under %s after the crashed apply was collected, want %d", n, p, want)
		}
	}
}

// TestGCLeavesInFlightApplyAlone: GC running while an apply stages keeps
// that apply's generation, and the apply then succeeds.
func TestGCLeavesInFlightApplyAlone(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	applier := store.New(etcd.Client, store.WithParallel(1))
	reached, resume := make(chan struct{}), make(chan struct{})
	store.SetStageHook(applier, func(chunk int) {
		if chunk == 5 {
			close(reached)
			<-resume
		}
	})
	want := genState(100, 200, 1)
	done := make(chan error, 1)
	go func() {
		_, err := applier.Apply(ctx, plan(0, want), record("alice"))
		done <- err
	}()
	<-reached
	gens := openGens(t, s)
	if len(gens) != 1 {
		t.Fatalf("open generations while staging: %v, want one", gens)
	}
	staged := keyCount(t, etcd.Client, store.PfxTask)
	for range 3 {
		if del, err := s.GC(ctx); err != nil || len(del) != 0 {
			t.Fatalf("GC during staging deleted %v (err %v)", del, err)
		}
	}
	if n := keyCount(t, etcd.Client, store.PfxTask); n != staged {
		t.Fatalf("GC during staging: %d keys left of %d", n, staged)
	}
	close(resume)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	snap, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, snap.State); d != "" {
		t.Errorf("state (-want +got):\n%s", d)
	}
}

// TestSupersededVersionsAreSwept: after applies, every object has one
// version; what an applier that died before sweeping, or while staging,
// left behind is swept or collected by the next GC.
func TestSupersededVersionsAreSwept(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	var base int64
	var rec store.ApplyRecord
	for i := range 4 {
		var err error
		if rec, err = s.Apply(ctx, plan(base, genState(5, 5, i+1)), record("alice")); err != nil {
			t.Fatal(err)
		}
		base = rec.Revision
	}
	for p, want := range map[string]int64{store.PfxTask: 5, store.PfxSource: 5, store.PfxBound: 5, store.PfxLog: 0, store.PfxOpen: 0} {
		if n := keyCount(t, etcd.Client, p); n != want {
			t.Errorf("%d keys under %s after 4 applies, want %d", n, p, want)
		}
	}
	if del, err := s.GC(ctx); err != nil || len(del) != 0 {
		t.Errorf("GC with nothing to collect deleted %v (err %v)", del, err)
	}
	// An older version and the log of the head's generation that names
	// it (its applier died before sweeping): GC sweeps it.
	old := store.PfxTask + "task-00000/00000000000000000002"
	put(t, old, `{"name":"task-00000"}`)
	put(t, store.PfxLog+rec.Gen+"/000000", `{"put":["`+store.PfxTask+`task-00000"]}`)
	// An open generation whose claim is gone: GC collects it.
	junkGen := "99999999999999999999"
	junk := store.PfxTask + "task-00001/" + junkGen
	put(t, junk, `{"name":"task-00001","mode":"full"}`)
	put(t, store.PfxOpen+junkGen, `{}`)
	put(t, store.PfxLog+junkGen+"/000000", `{"put":["`+store.PfxTask+`task-00001"]}`)
	if del, err := s.GC(ctx); err != nil || !cmp.Equal(del, []string{junkGen}) {
		t.Errorf("GC of an unclaimed generation deleted %v (err %v)", del, err)
	}
	for p, want := range map[string]int64{store.PfxTask: 5, store.PfxLog: 0, store.PfxOpen: 0, old: 0, junk: 0} {
		if n := keyCount(t, etcd.Client, p); n != want {
			t.Errorf("%d keys under %s after GC, want %d", n, p, want)
		}
	}
	snap, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(genState(5, 5, 4), snap.State); d != "" {
		t.Errorf("state after GC (-want +got):\n%s", d)
	}
}

func put(t testing.TB, k, v string) {
	t.Helper()
	if _, err := etcd.Client.Put(context.Background(), k, v); err != nil {
		t.Fatal(err)
	}
}

func openGens(t testing.TB, s *store.Store) []string {
	t.Helper()
	gens, err := s.OpenGenerations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return gens
}

// waitFor polls cond until it holds or 30 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
