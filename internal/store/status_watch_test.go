package store_test

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
)

// TestWatchStatus: the watch behind `dmplan status --wait` gives the
// watched task's status changes in order (not another task's), signals
// registrations and applies, and after losing events (its revision
// compacted away) says Reset instead of giving a partial history.
func TestWatchStatus(t *testing.T) {
	s := fresh(t)
	ctx := testCtx(t)
	lease, err := etcd.Client.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	put := func(task, source string, stage spec.Stage) {
		t.Helper()
		if err := s.PutStatus(ctx, lease.ID, store.SubtaskStatus{Task: task, Source: source, Worker: "a", Stage: stage}); err != nil {
			t.Fatal(err)
		}
	}
	put("shop", "s1", spec.StageRunning)
	sts, err := s.StatusesOf(ctx, "shop")
	if err != nil || len(sts) != 1 {
		t.Fatalf("StatusesOf = %v, %v", sts, err)
	}
	rev, err := etcd.Client.Get(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := s.WatchStatus(wctx, "shop", rev.Header.Revision)
	// take waits for the statuses signal and returns what it carries.
	take := func() store.StatusEvents {
		t.Helper()
		select {
		case <-w.Statuses:
			return w.TakeStatuses()
		case <-time.After(20 * time.Second):
			t.Fatal("no status event")
		}
		return store.StatusEvents{}
	}
	signalled := func(ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(20 * time.Second):
			t.Fatalf("no %s signal", what)
		}
	}

	put("crm", "s1", spec.StageRunning) // another task: not watched
	put("shop", "s1", "finished")
	if _, err := etcd.Client.Delete(ctx, store.Prefix+"status/shop/s1"); err != nil {
		t.Fatal(err)
	}
	put("shop", "s1", spec.StagePaused)
	var got []store.StatusChange
	for len(got) < 3 {
		ev := take()
		if ev.Reset {
			t.Fatalf("reset without a lost event")
		}
		got = append(got, ev.Changes...)
	}
	if len(got) != 3 || got[0].Status.Stage != "finished" || !got[1].Deleted || got[1].Status.Source != "s1" ||
		got[2].Status.Stage != spec.StagePaused {
		t.Fatalf("changes %+v: want finished, deleted, paused of shop/s1 only", got)
	}

	if err := s.RegisterWorker(ctx, planner.Worker{Name: "b"}, lease.ID); err != nil {
		t.Fatal(err)
	}
	signalled(w.Workers, "workers")
	snap, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := planner.Diff(planner.State{Sources: map[string]spec.Source{"s1": {Name: "s1"}}}, snap.State, snap.Workers)
	if _, err := s.Apply(ctx, p, store.ApplyRecord{Time: time.Now(), User: "test"}); err != nil {
		t.Fatal(err)
	}
	signalled(w.Head, "head")

	// A watch from a compacted revision: Reset, then the changes after.
	put("shop", "s2", spec.StageRunning)
	now, err := etcd.Client.Get(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := etcd.Client.Compact(ctx, now.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	w2 := s.WatchStatus(wctx, "shop", rev.Header.Revision)
	select {
	case <-w2.Statuses:
	case <-time.After(20 * time.Second):
		t.Fatal("no signal from a watch of a compacted revision")
	}
	if ev := w2.TakeStatuses(); !ev.Reset || len(ev.Changes) != 0 {
		t.Fatalf("after a compaction: %+v, want Reset alone", ev)
	}
	put("shop", "s2", "finished")
	deadline := time.After(20 * time.Second)
	for {
		select {
		case <-w2.Statuses:
		case <-deadline:
			t.Fatal("the watch did not go on after the compaction")
		}
		ev := w2.TakeStatuses()
		if n := len(ev.Changes); n > 0 && ev.Changes[n-1].Status.Source == "s2" && ev.Changes[n-1].Status.Stage == "finished" {
			break
		}
	}
}
