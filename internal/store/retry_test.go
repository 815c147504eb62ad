package store_test

import (
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/etcdserver"
	"github.com/dmplan/dmplan/internal/etcdserver/etcdtest"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/google/go-cmp/cmp"
)

// TestApplyRidesOutARestart: etcd goes down in the middle of staging and
// comes back on the same address a moment later; the apply retries its
// writes and completes.
func TestApplyRidesOutARestart(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts etcd: skipped in -short")
	}
	dir := t.TempDir() + "/data"
	d := etcdtest.Start(t, etcdserver.Config{DataDir: dir})
	clientURL, peerURL := d.URLs()
	s, ctx := store.New(d.Client, store.WithParallel(1), store.WithLogger(testLogger())), testCtx(t)

	restarted := make(chan *etcdserver.Server, 1)
	store.SetStageHook(s, func(chunk int) {
		if chunk != 2 {
			return
		}
		d.Server.Close() // about 7 s: etcd waits for the open keepalive stream
		go func() {
			time.Sleep(500 * time.Millisecond)
			srv, err := etcdserver.Start(ctx, etcdserver.Config{
				DataDir: dir, ClientURL: clientURL, PeerURL: peerURL, Logger: testLogger(),
			})
			if err != nil {
				t.Errorf("restart etcd: %v", err)
			}
			restarted <- srv
		}()
	})
	want := genState(50, 100, 1)
	_, err := s.Apply(ctx, plan(0, want), record("alice"))
	if srv := <-restarted; srv != nil {
		// Close the client first: etcd's Close waits up to 7 s for
		// open streams (the lease keepalive) to end.
		t.Cleanup(func() { d.Client.Close(); srv.Close() })
	}
	if err != nil {
		t.Fatalf("apply across an etcd restart: %v", err)
	}
	snap, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, snap.State); d != "" {
		t.Errorf("state after the restart (-want +got):\n%s", d)
	}
}
