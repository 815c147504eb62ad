package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/dmplan/dmplan/internal/etcdserver"
	"github.com/dmplan/dmplan/internal/etcdserver/etcdtest"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
)

// goldenEnv is planner's golden_test.go goldenEnv: the values the golden
// cases' YAML and current.json digests were made with.
var goldenEnv = map[string]string{
	"SOURCE_PASSWORD":  "source-pass-1",
	"MYSQL02_PASSWORD": "mysql02-pass-1",
	"TARGET_PASSWORD":  "target-pass-1",
	"REPLICA_PASSWORD": "replica-pass-1",
}

// For every planner golden case: its current state is applied to etcd with
// its workers live, then "dmplan plan" against etcd and "dmplan plan
// --state" against what "dmplan state pull" wrote give the same plan, byte
// for byte (saved plan files included), and the same text as the golden
// plan.txt.
func TestPlanStateFileEqualsEtcd(t *testing.T) {
	srv := etcdtest.Start(t, etcdserver.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cases, err := filepath.Glob("../../testdata/golden/planner/*/current.json")
	if err != nil || len(cases) < 12 {
		t.Fatalf("golden cases: %v (%d)", err, len(cases))
	}
	for _, f := range cases {
		dir := filepath.Dir(f)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var in struct {
				State   planner.State    `json:"state"`
				Workers []planner.Worker `json:"workers"`
				Base    int64            `json:"baseRevision"`
			}
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &in); err != nil {
				t.Fatal(err)
			}
			if _, err := srv.Client.Delete(ctx, "/dmplan/", clientv3.WithPrefix()); err != nil {
				t.Fatal(err)
			}
			st := store.New(srv.Client)
			h, err := st.Hasher(ctx)
			if err != nil {
				t.Fatal(err)
			}
			lease, err := srv.Client.Grant(ctx, 600)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Client.Revoke(context.Background(), lease.ID)
			for _, w := range in.Workers {
				if err := st.RegisterWorker(ctx, w, lease.ID); err != nil {
					t.Fatal(err)
				}
			}
			// The golden digests carry no installation salt: give the
			// unchanged ones this installation's, as its apply would have.
			salted := func(s spec.Secret) spec.Secret {
				if v, ok := goldenEnv[s.Ref]; ok && s.Digest == spec.Digest(s.Ref, v) {
					s.Digest = h.Digest(s.Ref, v)
				}
				return s
			}
			for k, s := range in.State.Sources {
				s.Password = salted(s.Password)
				in.State.Sources[k] = s
			}
			for k, tk := range in.State.Tasks {
				tk.Target.Password = salted(tk.Target.Password)
				in.State.Tasks[k] = tk
			}
			if len(in.State.Sources)+len(in.State.Tasks) > 0 {
				if _, err := st.Apply(ctx, &planner.Plan{FormatVersion: planner.FormatVersion, Desired: in.State, Changes: []planner.Change{{Kind: planner.KindSource, Name: "x", Action: planner.Create}}}, store.ApplyRecord{User: "test"}); err != nil {
					t.Fatal(err)
				}
			}

			work := t.TempDir()
			desired := filepath.Join(dir, "desired")
			if _, err := os.Stat(desired); err != nil {
				desired = filepath.Join(work, "empty.yaml")
				writeFile(t, desired, "")
			}
			stateFile := filepath.Join(work, "state.json")
			run := func(args ...string) string {
				t.Helper()
				code, out, errOut := dmplanIn(ctx, srv, goldenEnv, args...)
				if code != 0 {
					t.Fatalf("dmplan %v: exit %d\n%s%s", args, code, out, errOut)
				}
				return out
			}
			run("state", "pull", "--out", stateFile)
			if refused, err := os.ReadFile(filepath.Join(dir, "refused.txt")); err == nil {
				// Protected objects: both refuse, with the same error.
				for _, args := range [][]string{{"plan", "-f", desired}, {"plan", "-f", desired, "--state", stateFile}} {
					code, out, errOut := dmplanIn(ctx, srv, goldenEnv, args...)
					if code != 1 || out != "" || !strings.Contains(errOut, string(refused)) {
						t.Fatalf("dmplan %v: exit %d, stdout %q, stderr:\n%s\nwant the refusal:\n%s", args, code, out, errOut, refused)
					}
				}
				return
			}
			online := run("plan", "-f", desired, "--out", filepath.Join(work, "online.plan"))
			offline := run("plan", "-f", desired, "--state", stateFile, "--out", filepath.Join(work, "offline.plan"))
			if cut(online) != cut(offline) {
				t.Fatalf("plan against etcd:\n%s\nplan against the state file:\n%s", online, offline)
			}
			for _, o := range []string{"json", "markdown"} {
				if a, b := run("plan", "-f", desired, "-o", o), run("plan", "-f", desired, "--state", stateFile, "-o", o); a != b {
					t.Fatalf("-o %s differs:\n%s\n%s", o, a, b)
				}
			}
			a, _ := os.ReadFile(filepath.Join(work, "online.plan"))
			b, _ := os.ReadFile(filepath.Join(work, "offline.plan"))
			if !bytes.Equal(a, b) {
				t.Fatal("the saved plans differ")
			}
			golden, err := os.ReadFile(filepath.Join(dir, "plan.txt"))
			if err != nil {
				t.Fatal(err)
			}
			if want := string(golden); noLive(cut(offline)) != want {
				t.Fatalf("offline plan differs from the golden plan.txt:\n%s\nwant:\n%s", offline, want)
			}
		})
	}
}

// cut drops the line about the saved plan file.
func cut(out string) string {
	if i := strings.Index(out, "\nSaved the plan to "); i >= 0 {
		return out[:i]
	}
	return out
}

// noLive drops the Live: lines (the golden cases have no agent reports).
func noLive(out string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(out, "\n") {
		if !strings.HasPrefix(l, "Live: ") {
			b.WriteString(l)
		}
	}
	return b.String()
}
