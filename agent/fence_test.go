package agent

import (
	"context"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/etcdserver"
	"github.com/dmplan/dmplan/internal/etcdserver/etcdtest"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
)

// An agent cut off from etcd stops its units before its lease can expire
// on the server, so that another agent may take the source over safely.
func TestAgentFencesWhenEtcdIsGone(t *testing.T) {
	srv := etcdtest.Start(t, etcdserver.Config{})
	cli, err := srv.Server.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	shareInstallation(t, srv.Client)
	ul := newUnitLog()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Name: "agent-a", Client: cli, LeaseTTL: 2 * time.Second, RunUnit: ul.runFunc("agent-a"),
			Getenv: func(k string) (string, bool) {
				return map[string]string{"SRC_PW": "s3cret", "TGT_PW": "t4rget"}[k], true
			}})
	}()
	defer func() { cancel(); <-done }()

	s := store.New(srv.Client)
	waitFor(t, 5*time.Second, "registration", func() bool {
		ws, err := s.Workers(context.Background())
		return err == nil && len(ws) == 1
	})
	want := state([]spec.Source{source("src-1", "")}, task("shop", spec.StageRunning, "src-1"))
	snap, err := s.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p := planner.Diff(want, snap.State, snap.Workers)
	p.BaseRevision = snap.Revision
	if _, err := s.Apply(context.Background(), p, store.ApplyRecord{User: "test"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the unit", func() bool { return ul.where("shop/src-1") == "agent-a" })

	closeStart := time.Now()
	// etcd is gone; the lease can no longer be renewed. (Close drains
	// open gRPC streams first, keepalives included: it takes seconds.)
	srv.Server.Close()
	t.Logf("etcd closed in %s", time.Since(closeStart))
	took := waitFor(t, 5*time.Second, "the unit to stop", func() bool { return ul.where("shop/src-1") == "" })
	if took > 2*time.Second {
		t.Fatalf("the unit stopped %s after etcd went away; the lease TTL is 2s", took)
	}
	t.Logf("etcd gone -> units stopped after %s (TTL 2s)", took)
}
