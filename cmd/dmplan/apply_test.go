package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/etcdserver"
	"github.com/dmplan/dmplan/internal/etcdserver/etcdtest"
	"github.com/dmplan/dmplan/internal/store"
)

// dmplanIn runs one dmplan command line in-process against srv.
func dmplanIn(ctx context.Context, srv *etcdtest.Server, env map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	lookup := func(k string) (string, bool) {
		if k == "DMPLAN_ENDPOINTS" {
			return strings.Join(srv.Endpoints(), ","), true
		}
		v, ok := env[k]
		return v, ok
	}
	code = run(ctx, args, streams{in: strings.NewReader(""), out: &out, err: &errb}, lookup)
	return code, out.String(), errb.String()
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// desiredYAML is nSources sources and nTasks tasks, task i reading source
// i%nSources, with tag in every task's tables so that different tags are
// different plans.
func desiredYAML(nSources, nTasks int, tag string) string {
	var b strings.Builder
	for i := range nSources {
		fmt.Fprintf(&b, "---\napiVersion: dmplan/v1\nkind: Source\nmetadata: {name: src-%04d}\nspec: {host: 127.0.0.1, port: %d, user: dmplan, password: \"${SOURCE_PASSWORD}\"}\n", i, 10000+i)
	}
	for i := range nTasks {
		fmt.Fprintf(&b, "---\napiVersion: dmplan/v1\nkind: Task\nmetadata: {name: task-%05d}\nspec:\n  mode: all\n  target: {host: 127.0.0.1, port: 4000, user: root, password: \"${TARGET_PASSWORD}\"}\n  sources: [src-%04d]\n  tables: [\"db%05d.*\", \"%s.*\"]\n", i, i%nSources, i, tag)
	}
	return b.String()
}

var testEnv = map[string]string{"SOURCE_PASSWORD": "pw-one", "TARGET_PASSWORD": "pw-two"}

func TestDetailedExitCode(t *testing.T) {
	srv := etcdtest.Start(t, etcdserver.Config{})
	ctx := context.Background()
	dir := t.TempDir()
	writeFile(t, dir+"/d.yaml", desiredYAML(2, 3, "a"))
	if code, _, errs := dmplanIn(ctx, srv, testEnv, "plan", "-f", dir, "--detailed-exitcode"); code != 2 {
		t.Fatalf("plan with changes: exit %d, want 2 (%s)", code, errs)
	}
	if code, _, errs := dmplanIn(ctx, srv, testEnv, "plan", "-f", dir); code != 0 {
		t.Fatalf("plan without --detailed-exitcode: exit %d, want 0 (%s)", code, errs)
	}
	if code, _, errs := dmplanIn(ctx, srv, testEnv, "apply", "-f", dir, "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d: %s", code, errs)
	}
	if code, out, errs := dmplanIn(ctx, srv, testEnv, "plan", "-f", dir, "--detailed-exitcode"); code != 0 || !strings.Contains(out, "No changes.") {
		t.Fatalf("plan after apply: exit %d, want 0 and No changes.\n%s%s", code, out, errs)
	}
	if code, _, _ := dmplanIn(ctx, srv, testEnv, "plan", "-f", dir+"/missing", "--detailed-exitcode"); code != 1 {
		t.Fatalf("plan of a missing folder: exit %d, want 1", code)
	}
}

// TestConcurrentApplies races many applies of different plans from the same
// base: in every round exactly one wins, and the state is exactly the
// winner's, never a mix.
func TestConcurrentApplies(t *testing.T) {
	srv := etcdtest.Start(t, etcdserver.Config{})
	ctx := context.Background()
	const racers = 8
	dirs := make([]string, racers)
	for i := range dirs {
		dirs[i] = t.TempDir()
		writeFile(t, dirs[i]+"/d.yaml", desiredYAML(20, 60, fmt.Sprintf("tag%d", i)))
	}
	for round := range 3 {
		var wg sync.WaitGroup
		codes := make([]int, racers)
		errs := make([]string, racers)
		for i := range racers {
			wg.Go(func() {
				codes[i], _, errs[i] = dmplanIn(ctx, srv, testEnv, "apply", "-f", dirs[i], "--auto-approve")
			})
		}
		wg.Wait()
		winners := []int{}
		for i, c := range codes {
			switch {
			case c == 0:
				winners = append(winners, i)
			case !strings.Contains(errs[i], "stale"):
				t.Fatalf("round %d: racer %d failed without being stale: %s", round, i, errs[i])
			}
		}
		snap, err := store.New(srv.Client).Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tags := map[string]int{}
		for _, task := range snap.State.Tasks {
			tags[task.Tables[1]]++
		}
		if len(tags) != 1 || len(snap.State.Tasks) != 60 {
			t.Fatalf("round %d: state is a mix of plans: %v", round, tags)
		}
		// The one whose tag is in etcd applied last; a racer that re-planned
		// after another won may also succeed (its plan was fresh), so more
		// than one winner per round is fine, zero is not.
		if len(winners) == 0 {
			t.Fatalf("round %d: no apply succeeded", round)
		}
		found := false
		for _, w := range winners {
			if tags[fmt.Sprintf("tag%d.*", w)] == 60 {
				found = true
			}
		}
		if !found {
			t.Fatalf("round %d: state %v is from none of the winners %v", round, tags, winners)
		}
	}
}

// TestLargePlanDefaultLimits applies 1,000 sources and 5,000 tasks through
// an etcd with etcd's default limits (128 operations per transaction,
// 1.5 MiB per request), while a reader checks it never sees a partial state.
func TestLargePlanDefaultLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("large plan skipped in -short mode")
	}
	srv := etcdtest.Start(t, etcdserver.Config{
		MaxTxnOps:       etcdtest.DefaultMaxTxnOps,
		MaxRequestBytes: etcdtest.DefaultMaxRequestBytes,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	writeFile(t, dir+"/big.yaml", desiredYAML(1000, 5000, "big"))

	done := make(chan struct{})
	var reads, partial int
	var readerErr error
	go func() {
		defer close(done)
		st := store.New(srv.Client)
		for ctx.Err() == nil {
			snap, err := st.Read(ctx)
			if err != nil {
				readerErr = err
				return
			}
			reads++
			n := len(snap.State.Tasks)
			if n != 0 && n != 5000 || len(snap.State.Sources) != n/5 {
				partial++
			}
			if n == 5000 {
				return
			}
		}
	}()
	start := time.Now()
	code, out, errs := dmplanIn(ctx, srv, testEnv, "apply", "-f", dir, "--auto-approve")
	if code != 0 {
		t.Fatalf("apply: exit %d: %s", code, errs)
	}
	took := time.Since(start)
	if !strings.Contains(out, "Apply complete: 16000 created") {
		t.Errorf("apply output: %s", lastLines(out, 3))
	}
	<-done // reads and partial are the reader's until it is done
	t.Logf("applied 1,000 sources + 5,000 tasks in %s; %d concurrent reads", took, reads)
	if readerErr != nil {
		t.Fatal(readerErr)
	}
	if partial > 0 {
		t.Fatalf("%d of %d concurrent reads saw a partial state", partial, reads)
	}
	if code, out, errs := dmplanIn(ctx, srv, testEnv, "plan", "-f", dir); code != 0 || !strings.Contains(out, "No changes.") {
		t.Fatalf("plan after the large apply: exit %d\n%s%s", code, lastLines(out, 3), errs)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
