package store_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dmplan/dmplan/internal/etcdserver"
	"github.com/dmplan/dmplan/internal/etcdserver/etcdtest"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
	"github.com/google/go-cmp/cmp"
)

// defaultLimitsServer starts a server with etcd's own limits: 128
// operations per txn, 1.5 MiB per request.
func defaultLimitsServer(t testing.TB) *etcdtest.Server {
	return etcdtest.Start(t, etcdserver.Config{
		MaxTxnOps: etcdtest.DefaultMaxTxnOps, MaxRequestBytes: etcdtest.DefaultMaxRequestBytes,
	})
}

// TestBigPlanAtomicUnderDefaultLimits applies 1,000 sources and 5,000
// tasks (tens of thousands of keys, several MB) twice against a server
// with etcd's default limits, while a reader polls: every snapshot is the
// empty state, all of the first plan, or all of the second.
func TestBigPlanAtomicUnderDefaultLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("big plan: skipped in -short")
	}
	d := defaultLimitsServer(t)
	s := store.New(d.Client, store.WithLogger(testLogger()))
	ctx := testCtx(t)
	sources, tasks := 1000, 5000
	if raceDetector {
		// A fifth, still thousands of keys and far beyond 128 operations per
		// txn: at full size the reader's decoding alone takes minutes under
		// -race on two cores.
		sources, tasks = 200, 1000
	}
	a, b := genState(sources, tasks, 1), genState(sources, tasks, 2)

	stop := make(chan struct{})
	var (
		wg    sync.WaitGroup
		reads atomic.Int64
		seen  [3]atomic.Int64 // empty, a, b
	)
	wg.Go(func() {
		r := store.New(d.Client)
		for {
			select {
			case <-stop:
				return
			default:
			}
			snap, err := r.Read(ctx)
			if err != nil {
				t.Errorf("concurrent read: %v", err)
				return
			}
			reads.Add(1)
			switch {
			case len(snap.State.Tasks) == 0 && len(snap.State.Sources) == 0:
				seen[0].Add(1)
			case sameMark(snap.State, a, 1):
				seen[1].Add(1)
			case sameMark(snap.State, b, 2):
				seen[2].Add(1)
			default:
				t.Errorf("reader saw a partial state: %d sources, %d tasks, %d bounds at revision %d",
					len(snap.State.Sources), len(snap.State.Tasks), len(snap.State.Bounds), snap.Revision)
				return
			}
		}
	})

	rec, err := s.Apply(ctx, plan(0, a), record("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, plan(rec.Revision, b), record("alice")); err != nil {
		t.Fatal(err)
	}
	// Let the reader see the final state at least once.
	for seen[2].Load() == 0 && !t.Failed() {
		if err := ctx.Err(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d concurrent reads: %d empty, %d first plan, %d second plan",
		reads.Load(), seen[0].Load(), seen[1].Load(), seen[2].Load())

	snap, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(b, snap.State); d != "" {
		t.Errorf("final state (-want +got):\n%s", d)
	}
	// A stale plan of the same size is refused after staging nothing.
	if _, err := s.Apply(ctx, plan(rec.Revision, a), record("bob")); !errors.Is(err, store.ErrStale) {
		t.Errorf("stale big apply: error %v, want ErrStale", err)
	}
}

// sameMark reports whether st has all of want's objects and every one
// carries mark (cheaper than a full comparison inside the polling loop).
func sameMark(st, want planner.State, mark int) bool {
	if len(st.Sources) != len(want.Sources) || len(st.Tasks) != len(want.Tasks) || len(st.Bounds) != len(want.Bounds) {
		return false
	}
	for _, src := range st.Sources {
		if src.Port != 10000+mark {
			return false
		}
	}
	for _, task := range st.Tasks {
		if task.Dump.Threads != mark {
			return false
		}
	}
	return true
}
