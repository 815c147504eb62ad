package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func grant(t *testing.T) clientv3.LeaseID {
	t.Helper()
	l, err := etcd.Client.Grant(context.Background(), 30)
	if err != nil {
		t.Fatal(err)
	}
	return l.ID
}

func TestWorkerRegistrationFollowsItsLease(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	a, b := grant(t), grant(t)
	w := planner.Worker{Name: "agent-a", Address: "127.0.0.1:8261"}
	if err := s.RegisterWorker(ctx, w, a); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterWorker(ctx, planner.Worker{Name: "agent-a"}, b); !errors.Is(err, store.ErrWorkerExists) {
		t.Errorf("second registration under another lease: error %v, want ErrWorkerExists", err)
	}
	w.Address = "127.0.0.1:8262" // same lease: an update
	if err := s.RegisterWorker(ctx, w, a); err != nil {
		t.Errorf("re-registration under the same lease: %v", err)
	}
	if err := s.RegisterWorker(ctx, planner.Worker{Name: "agent-b"}, b); err != nil {
		t.Fatal(err)
	}
	want := []planner.Worker{w, {Name: "agent-b"}}
	got, err := s.Workers(ctx)
	if err != nil || !cmp.Equal(want, got) {
		t.Errorf("Workers() = %v (err %v), want %v", got, err, want)
	}
	snap, err := s.Read(ctx)
	if err != nil || !cmp.Equal(want, snap.Workers) {
		t.Errorf("Read().Workers = %v (err %v), want %v", snap.Workers, err, want)
	}

	if _, err := etcd.Client.Revoke(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err = s.Workers(ctx)
	if err != nil || !cmp.Equal([]planner.Worker{{Name: "agent-b"}}, got) {
		t.Errorf("after revoking agent-a's lease: Workers() = %v (err %v)", got, err)
	}
	// The name is free again.
	if err := s.RegisterWorker(ctx, planner.Worker{Name: "agent-a"}, b); err != nil {
		t.Errorf("registration after the old lease ended: %v", err)
	}
	if err := s.UnregisterWorker(ctx, "agent-a", b); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterWorker(ctx, planner.Worker{Name: "a/b"}, b); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("worker named a/b: error %v, want ErrInvalid", err)
	}
}

func TestStatusesFollowTheirLease(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	l := grant(t)
	st := store.SubtaskStatus{
		Task: "shop", Source: "mysql-01", Worker: "agent-a", Stage: spec.StageRunning, Unit: "sync",
		Progress:   store.Progress{TablesDone: 3, TablesTotal: 3, RowsDone: 1000, RowsTotal: 1000, Bytes: 65536},
		BinlogFile: "mysql-bin.000003", BinlogPos: 4, GTID: "0-1-1234", LagSeconds: 0.5,
		UpdatedAt: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
	}
	other := st
	other.Task = "billing"
	for _, x := range []store.SubtaskStatus{st, other} {
		if err := s.PutStatus(ctx, l, x); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Statuses(ctx)
	if err != nil || !cmp.Equal([]store.SubtaskStatus{other, st}, got) {
		t.Errorf("Statuses() = %+v (err %v)", got, err)
	}
	if err := s.DeleteStatus(ctx, "billing", "mysql-01"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Statuses(ctx); len(got) != 1 {
		t.Errorf("after DeleteStatus: %d statuses, want 1", len(got))
	}
	if _, err := etcd.Client.Revoke(ctx, l); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Statuses(ctx); err != nil || len(got) != 0 {
		t.Errorf("after revoking the lease: Statuses() = %+v (err %v)", got, err)
	}
}

func TestWatchHeadAndWorkerView(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	wctx, cancel := context.WithCancel(ctx)
	ch := s.WatchHead(wctx)
	next := func() int64 {
		t.Helper()
		select {
		case rev := <-ch:
			return rev
		case <-time.After(10 * time.Second):
			t.Fatal("no head revision from WatchHead within 10s")
		}
		return 0
	}
	if rev := next(); rev != 0 {
		t.Errorf("first revision on an empty store = %d, want 0", rev)
	}
	st := genState(20, 30, 1)
	var base int64
	for range 2 {
		rec, err := s.Apply(ctx, plan(base, st), record("alice"))
		if err != nil {
			t.Fatal(err)
		}
		if rev := next(); rev != rec.Revision {
			t.Errorf("watched revision %d, want the apply's %d", rev, rec.Revision)
		}
		base = rec.Revision
	}
	cancel()
	for range ch { // closed when the context ends
	}

	v, err := s.ReadWorkerView(ctx, "agent-3", nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.Revision != base {
		t.Errorf("view revision %d, want %d", v.Revision, base)
	}
	want := map[planner.SubtaskID]planner.Subtask{}
	for id, sub := range st.Subtasks() {
		if st.Bounds[id.Source] == "agent-3" {
			want[id] = sub
		}
	}
	if len(want) == 0 || len(v.Sources) != 2 { // sources 3 and 13 of 20
		t.Fatalf("test data: %d subtasks, %d sources for agent-3", len(want), len(v.Sources))
	}
	if d := cmp.Diff(want, v.Subtasks); d != "" {
		t.Errorf("agent-3's subtasks (-want +got):\n%s", d)
	}
	for name, src := range v.Sources {
		if !cmp.Equal(st.Sources[name], src) {
			t.Errorf("view source %s = %+v", name, src)
		}
	}
}

func TestWatchWorkers(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := s.WatchWorkers(wctx)
	expect := func(want ...string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case ws := <-ch:
				var got []string
				for _, w := range ws {
					got = append(got, w.Name)
				}
				if cmp.Equal(want, got, cmpopts.EquateEmpty()) {
					return
				}
			case <-deadline:
				t.Fatalf("WatchWorkers did not send %v within 10s", want)
			}
		}
	}
	expect()
	a, b := grant(t), grant(t)
	if err := s.RegisterWorker(ctx, planner.Worker{Name: "agent-a"}, a); err != nil {
		t.Fatal(err)
	}
	expect("agent-a")
	if err := s.RegisterWorker(ctx, planner.Worker{Name: "agent-b"}, b); err != nil {
		t.Fatal(err)
	}
	expect("agent-a", "agent-b")
	if _, err := etcd.Client.Revoke(ctx, a); err != nil {
		t.Fatal(err)
	}
	expect("agent-b")
}
