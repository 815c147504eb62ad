package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/dmplan/dmplan/internal/etcdserver"
	"github.com/dmplan/dmplan/internal/etcdserver/etcdtest"
	"github.com/dmplan/dmplan/internal/mariadbtest"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"dmplan": func() { os.Exit(mainExit()) },
	})
}

// TestScripts runs the CLI scripts in testdata/script against a real
// embedded etcd started for each script.
func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams("testdata/script"))
}

// scriptParams runs the scripts of dir, each with an embedded etcd of its
// own, the passwords set, and the custom commands below.
func scriptParams(dir string) testscript.Params {
	return testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			srv, err := etcdtest.StartMain(etcdserver.Config{DataDir: env.WorkDir + "/.etcd"})
			if err != nil {
				return err
			}
			env.Defer(srv.Stop)
			env.Values["etcd"] = srv
			env.Values["leases"] = map[string]clientv3.LeaseID{}
			env.Setenv("DMPLAN_ENDPOINTS", strings.Join(srv.Endpoints(), ","))
			env.Setenv("SOURCE_PASSWORD", "s3cret-source-pw")
			env.Setenv("TARGET_PASSWORD", "s3cret-target-pw")
			env.Setenv("NO_COLOR", "")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"worker":   cmdWorker,
			"freeport": cmdFreePort,
			"waitport": cmdWaitPort,
			"replace":  cmdReplace,
			"report":   cmdReport,
			"legacy":   cmdLegacy,
			"checkout": cmdCheckout,
		},
	}
}

// worker NAME: registers a live agent NAME under a real etcd lease that
// lasts until the script ends. worker -revoke NAME: revokes it.
func cmdWorker(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: worker [-revoke] NAME")
	}
	srv := ts.Value("etcd").(*etcdtest.Server)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leases := ts.Value("leases").(map[string]clientv3.LeaseID)
	if args[0] == "-revoke" {
		if len(args) != 2 || leases[args[1]] == 0 {
			ts.Fatalf("usage: worker -revoke NAME (of a registered worker)")
		}
		_, err := srv.Client.Revoke(ctx, leases[args[1]])
		ts.Check(err)
		delete(leases, args[1])
		return
	}
	lease, err := srv.Client.Grant(ctx, 600)
	ts.Check(err)
	ts.Check(store.New(srv.Client).RegisterWorker(ctx, planner.Worker{Name: args[0], Address: "127.0.0.1:0"}, lease.ID))
	leases[args[0]] = lease.ID
}

// freeport VAR: sets VAR to a free TCP port on 127.0.0.1.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	p, err := mariadbtest.FreePort()
	ts.Check(err)
	ts.Setenv(args[0], fmt.Sprint(p))
}

// waitport PORT: waits (up to 30 s) until something listens on 127.0.0.1:PORT.
func cmdWaitPort(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: waitport PORT")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", args[0]), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("nothing listens on 127.0.0.1:%s after 30s: %v", args[0], err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// replace OLD NEW FILE: replaces every OLD with NEW in FILE, which must
// contain OLD.
func cmdReplace(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: replace OLD NEW FILE")
	}
	data := ts.ReadFile(args[2])
	if !strings.Contains(data, args[0]) {
		ts.Fatalf("%s does not contain %q", args[2], args[0])
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[2]), []byte(strings.ReplaceAll(data, args[0], args[1])), 0o644))
}

// report WORKER TASK SOURCE STAGE [ERROR...]: writes a subtask status as
// agent WORKER would (under its lease; see worker).
func cmdReport(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 4 {
		ts.Fatalf("usage: report WORKER TASK SOURCE STAGE [ERROR...]")
	}
	srv := ts.Value("etcd").(*etcdtest.Server)
	lease := ts.Value("leases").(map[string]clientv3.LeaseID)[args[0]]
	if lease == 0 {
		ts.Fatalf("worker %s is not registered", args[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ts.Check(store.New(srv.Client).PutStatus(ctx, lease, store.SubtaskStatus{
		Worker: args[0], Task: args[1], Source: args[2], Stage: spec.Stage(args[3]),
		Unit: "sync", Error: strings.Join(args[4:], " "), UpdatedAt: time.Now(),
	}))
}

// legacy: rewrites every applied password digest in the legacy form
// (PBKDF2, no installation salt) of the value in the script's environment,
// as an earlier dmplan would have applied it.
func cmdLegacy(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: legacy")
	}
	srv := ts.Value("etcd").(*etcdtest.Server)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := store.New(srv.Client)
	snap, err := st.Read(ctx)
	ts.Check(err)
	old := func(s spec.Secret) spec.Secret {
		if s.Ref != "" {
			s.Digest = spec.LegacyDigest(s.Ref, ts.Getenv(s.Ref))
		}
		return s
	}
	want := planner.State{Sources: map[string]spec.Source{}, Tasks: map[string]spec.Task{}, Bounds: snap.State.Bounds}
	for k, src := range snap.State.Sources {
		src.Password = old(src.Password)
		want.Sources[k] = src
	}
	for k, t := range snap.State.Tasks {
		t.Target.Password = old(t.Target.Password)
		want.Tasks[k] = t
	}
	p := planner.Diff(want, snap.State, snap.Workers)
	p.BaseRevision = snap.Revision
	_, err = st.Apply(ctx, p, store.ApplyRecord{User: "legacy", Time: time.Now()})
	ts.Check(err)
}
