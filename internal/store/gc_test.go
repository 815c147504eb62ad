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
	if gens := generations(t, s); !cmp.Equal(gens, []string{rec.Gen}) {
		t.Errorf("generations after cancelled apply: %v, want only %s", gens, rec.Gen)
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

	gens := generations(t, s)
	if len(gens) != 2 || gens[0] != rec.Gen {
		t.Fatalf("generations after crash: %v, want %s and the crashed one", gens, rec.Gen)
	}
	crashed := gens[1]
	// While the claim lives, GC leaves the generation alone.
	if del, err := s.GC(ctx); err != nil || len(del) != 0 {
		t.Fatalf("GC with a live claim deleted %v (err %v)", del, err)
	}
	waitFor(t, "the crashed applier's claim to expire", func() bool {
		return keyCount(t, etcd.Client, store.PfxStaging+crashed) == 0
	})

	rec2, err := s.Apply(ctx, plan(rec.Revision, genState(5, 5, 3)), record("bob"))
	if err != nil {
		t.Fatal(err)
	}
	if got := generations(t, s); !cmp.Equal(got, []string{rec.Gen, rec2.Gen}) {
		t.Errorf("generations after the next apply: %v, want %s and %s", got, rec.Gen, rec2.Gen)
	}
	if n := keyCount(t, etcd.Client, store.PfxGen+crashed+"/"); n != 0 {
		t.Errorf("%d keys of the crashed generation left", n)
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
	gens := generations(t, s)
	if len(gens) != 1 {
		t.Fatalf("generations while staging: %v, want one", gens)
	}
	staged := keyCount(t, etcd.Client, store.PfxGen+gens[0]+"/")
	for range 3 {
		if del, err := s.GC(ctx); err != nil || len(del) != 0 {
			t.Fatalf("GC during staging deleted %v (err %v)", del, err)
		}
	}
	if n := keyCount(t, etcd.Client, store.PfxGen+gens[0]+"/"); n != staged {
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

// TestOldGenerationsAreDeleted: only the head's generation and the one
// before it are kept.
func TestOldGenerationsAreDeleted(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	var base int64
	var recs []store.ApplyRecord
	for i := range 4 {
		rec, err := s.Apply(ctx, plan(base, genState(5, 5, i+1)), record("alice"))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
		base = rec.Revision
	}
	if got, want := generations(t, s), []string{recs[2].Gen, recs[3].Gen}; !cmp.Equal(got, want) {
		t.Errorf("generations after 4 applies: %v, want %v", got, want)
	}
	if del, err := s.GC(ctx); err != nil || len(del) != 0 {
		t.Errorf("GC with nothing to collect deleted %v (err %v)", del, err)
	}
	// Garbage that no claim protects is collected.
	junk := store.PfxGen + "00000000000000000001/task/x"
	if _, err := etcd.Client.Put(ctx, junk, "{}"); err != nil {
		t.Fatal(err)
	}
	if del, err := s.GC(ctx); err != nil || !cmp.Equal(del, []string{"00000000000000000001"}) {
		t.Errorf("GC of an unclaimed generation deleted %v (err %v)", del, err)
	}
}

func generations(t testing.TB, s *store.Store) []string {
	t.Helper()
	gens, err := store.Generations(s, context.Background())
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
