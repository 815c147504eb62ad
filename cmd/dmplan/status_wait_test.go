package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dmplan/dmplan/internal/etcdserver"
	"github.com/dmplan/dmplan/internal/etcdserver/etcdtest"
	"github.com/dmplan/dmplan/internal/statusview"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
)

// TestStatusWait drives `dmplan status TASK --wait` against a real etcd
// with statuses written as an agent writes them: a finished status of an
// earlier config (or of an agent that does not say which) never ends the
// wait, --timeout ends it with exit 2 and the status printed, stage error
// for the applied config ends it at once with exit 3 and the error, and a
// finished status of the applied config that lands while it waits ends it
// with exit 0 (on etcd's watch: the test waits until the command watches).
func TestStatusWait(t *testing.T) {
	srv := etcdtest.Start(t, etcdserver.Config{})
	ctx := context.Background()
	st := store.New(srv.Client)
	lease, err := srv.Client.Grant(ctx, 600)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RegisterWorker(ctx, planner.Worker{Name: "agent-a"}, lease.ID); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, dir+"/d.yaml", `apiVersion: dmplan/v1
kind: Source
metadata: {name: mysql-01}
spec: {host: 127.0.0.1, port: 3306, user: dmplan, password: "${SOURCE_PASSWORD}"}
---
apiVersion: dmplan/v1
kind: Task
metadata: {name: copy}
spec:
  mode: full
  target: {host: 127.0.0.1, port: 4000, user: root, password: "${TARGET_PASSWORD}"}
  sources: [mysql-01]
  tables: ["shop.*"]
`)
	if code, _, errs := dmplanIn(ctx, srv, testEnv, "apply", "-f", dir, "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d: %s", code, errs)
	}
	snap, err := st.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	applied := statusview.Fingerprints(snap, "copy")[planner.SubtaskID{Task: "copy", Source: "mysql-01"}]
	base := watchers(t) // none of --wait's yet
	report := func(stage spec.Stage, fp, msg string) {
		t.Helper()
		if err := st.PutStatus(ctx, lease.ID, store.SubtaskStatus{Task: "copy", Source: "mysql-01", Worker: "agent-a",
			Stage: stage, Error: msg, ConfigFingerprint: fp, UpdatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(args ...string) (int, string, string) {
		return dmplanIn(ctx, srv, testEnv, append([]string{"status", "copy", "--wait"}, args...)...)
	}

	for _, c := range []struct{ args, want string }{
		{"status --wait --watch", "--wait and --watch"},
		{"status --timeout 1s", "it bounds --wait"},
		{"status --wait --timeout -1s", "want a duration"},
	} {
		if code, _, errs := dmplanIn(ctx, srv, testEnv, strings.Fields(c.args)...); code != exitError || !strings.Contains(errs, c.want) {
			t.Errorf("%s: exit %d, %q; want 1 and %q", c.args, code, errs, c.want)
		}
	}

	// Not there yet, for several reasons: each times out with exit 2 and
	// prints the status and why.
	for _, c := range []struct {
		name, fp, why string
		stage         spec.Stage
	}{
		{name: "finished under an earlier config", stage: statusview.StageFinished, fp: "0123456789abcdef", why: "earlier config"},
		{name: "finished, no fingerprint", stage: statusview.StageFinished, why: "does not say which config"},
		{name: "running", stage: spec.StageRunning, fp: applied, why: "stage running"},
		{name: "error under an earlier config", stage: statusview.StageError, fp: "0123456789abcdef", why: "earlier config"},
	} {
		report(c.stage, c.fp, "")
		code, out, errs := wait("--timeout", "1s", "-o", "json")
		if code != exitWaitTimeout || !strings.Contains(errs, "timed out after 1s") || !strings.Contains(errs, c.why) {
			t.Fatalf("%s: exit %d, stderr %q; want %d, a timeout, %q", c.name, code, errs, exitWaitTimeout, c.why)
		}
		var v statusview.View
		if err := json.Unmarshal([]byte(out), &v); err != nil || len(v.Subtasks) != 1 || v.Subtasks[0].Stage != c.stage {
			t.Fatalf("%s: the status printed on timeout: %v\n%s", c.name, err, out)
		}
	}

	// Stage error for the applied config: exit 3 at once (no timeout to
	// wait for), with the error.
	report(statusview.StageError, applied, "apply to shop.users: table has no key")
	if code, out, errs := wait(); code != exitWaitFailed || !strings.Contains(errs, "copy/mysql-01 is in stage error: apply to shop.users: table has no key") ||
		!strings.Contains(out, "copy") {
		t.Fatalf("error: exit %d, stdout %q, stderr %q; want %d and the error", code, out, errs, exitWaitFailed)
	}

	// Running; the wait starts, and once it watches, the copy finishes.
	report(spec.StageRunning, applied, "")
	deadline := time.Now().Add(20 * time.Second)
	for watchers(t) != base { // the earlier runs' watches end after they return
		if time.Now().After(deadline) {
			t.Fatalf("etcd holds %v watchers, %v before any --wait", watchers(t), base)
		}
		time.Sleep(5 * time.Millisecond)
	}
	type result struct {
		code     int
		out, err string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errs := wait("-o", "json")
		done <- result{code, out, errs}
	}()
	deadline = time.Now().Add(20 * time.Second)
	for watchers(t) < base+3 { // the head, the workers and the task's statuses
		select {
		case r := <-done:
			t.Fatalf("--wait returned before the copy finished: exit %d\n%s%s", r.code, r.out, r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("--wait never watched etcd")
		}
		time.Sleep(5 * time.Millisecond)
	}
	report(statusview.StageFinished, applied, "")
	select {
	case r := <-done:
		var v statusview.View
		if err := json.Unmarshal([]byte(r.out), &v); r.code != 0 || err != nil || len(v.Subtasks) != 1 ||
			v.Subtasks[0].Stage != statusview.StageFinished || v.Subtasks[0].ConfigFingerprint != applied || v.Subtasks[0].Stale {
			t.Fatalf("--wait: exit %d (%v)\n%s%s", r.code, err, r.out, r.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("--wait did not return once the copy finished")
	}

	// An apply that changes the task makes the finished status stale
	// until an agent takes it.
	yaml, err := os.ReadFile(dir + "/d.yaml")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir+"/d.yaml", strings.Replace(string(yaml), `["shop.*"]`, `["shop.*", "crm.*"]`, 1))
	if code, _, errs := dmplanIn(ctx, srv, testEnv, "apply", "-f", dir, "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d: %s", code, errs)
	}
	if code, _, errs := wait("--timeout", "1s"); code != exitWaitTimeout || !strings.Contains(errs, "has not taken the last apply") {
		t.Fatalf("after a change: exit %d, %q; want a timeout on the stale status", code, errs)
	}
}

// watchers is the number of watchers the embedded etcd servers of this
// process hold.
func watchers(t *testing.T) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "etcd_debugging_mvcc_watcher_total" && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no etcd_debugging_mvcc_watcher_total metric")
	return 0
}
