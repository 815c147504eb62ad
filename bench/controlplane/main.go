// Command controlplane measures dmplan's control plane as a user runs it:
// whole `dmplan plan` and `dmplan apply` processes against an embedded
// etcd, with wall time and peak memory (max RSS) of each process; then a
// one-task change, applied by a whole process and, to time the apply step
// alone, through the store as `dmplan apply` calls it; then many one-task
// applies, and the size of etcd after them.
//
//	go run ./bench/controlplane [-sources 1000] [-tasks 10000] [-applies 100]
//	go run ./bench/controlplane -sources 10000 -tasks 100000
//
// Goals (issues 2 and 13): at 1,000 + 10,000, plan and apply under 3 s and
// 300 MB; at 10,000 + 100,000, plan under 3 s, a first apply under 10 s
// and 1 GB, a one-task change applied under 300 ms writing keys in
// proportion to the change.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/dmplan/dmplan/internal/etcdserver"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
)

func main() {
	sources := flag.Int("sources", 1000, "number of sources")
	tasks := flag.Int("tasks", 10000, "number of tasks")
	applies := flag.Int("applies", 100, "one-task applies before measuring etcd's size")
	flag.StringVar(&profileDir, "profile", "", "write a CPU and a heap profile of each dmplan process to this directory (step-N.cpu, step-N.mem)")
	flag.IntVar(&plans, "plans", 0, "then run the no-change plan this many times more and print the medians (steady figures on a busy machine)")
	flag.StringVar(&compareBin, "compare", "", "with -plans: a dmplan binary (e.g. built from main) whose no-change plans alternate with this build's")
	flag.Parse()
	if err := run(*sources, *tasks, *applies); err != nil {
		log.Fatal(err)
	}
}

// plans and compareBin are -plans and -compare.
var (
	plans      int
	compareBin string
)

// profileDir, when set, receives the dmplan processes' profiles.
var profileDir string

func run(nSources, nTasks, nApplies int) error {
	dir, err := os.MkdirTemp("", "dmplan-bench-cp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "dmplan")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/dmplan").CombinedOutput(); err != nil {
		return fmt.Errorf("build dmplan (run from the repository root): %v\n%s", err, out)
	}
	ctx := context.Background()
	srv, err := etcdserver.Start(ctx, etcdserver.Config{DataDir: filepath.Join(dir, "etcd"),
		ClientURL: "http://127.0.0.1:0", PeerURL: "http://127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer srv.Close()
	desired := filepath.Join(dir, "desired.yaml")
	if err := os.WriteFile(desired, []byte(yamlFor(nSources, nTasks, -1)), 0o644); err != nil {
		return err
	}
	changed := filepath.Join(dir, "changed.yaml")
	if err := os.WriteFile(changed, []byte(yamlFor(nSources, nTasks, nTasks/2)), 0o644); err != nil {
		return err
	}
	env := append(os.Environ(), "DMPLAN_ENDPOINTS="+strings.Join(srv.Endpoints(), ","),
		"SOURCE_PASSWORD=bench-source", "TARGET_PASSWORD=bench-target")
	cli, err := srv.Client()
	if err != nil {
		return err
	}
	defer cli.Close()
	st := store.New(cli)

	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("dmplan control plane: %d sources, %d tasks (%d subtasks), embedded etcd; load average %s",
		nSources, nTasks, nTasks, load)
	fmt.Printf("%-44s %10s %10s %12s %9s\n", "command", "wall", "CPU", "max RSS", "versions")
	steps := []struct {
		name string
		args []string
	}{
		{"plan (empty -> full)", []string{"plan", "-f", desired, "--out", filepath.Join(dir, "p.plan")}},
		{"apply saved plan (first apply)", []string{"apply", filepath.Join(dir, "p.plan")}},
		{"plan (no changes)", []string{"plan", "-f", desired}},
		{"apply -f (plan + apply, no changes)", []string{"apply", "-f", desired, "--auto-approve"}},
		{"apply -f (plan + apply, one task changed)", []string{"apply", "-f", changed, "--auto-approve"}},
	}
	for i, s := range steps {
		before := lastApply(ctx, st)
		env := env
		if profileDir != "" {
			env = append(env[:len(env):len(env)],
				fmt.Sprintf("DMPLAN_CPUPROFILE=%s/step-%d.cpu", profileDir, i+1),
				fmt.Sprintf("DMPLAN_MEMPROFILE=%s/step-%d.mem", profileDir, i+1))
		}
		wall, cpu, rss, err := measure(bin, s.args, env)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		keys := "-"
		if rec := lastApply(ctx, st); rec.Seq != before.Seq {
			keys = fmt.Sprint(rec.Keys)
		}
		fmt.Printf("%-44s %9.2fs %9.2fs %9.1f MB %9s\n", s.name, wall.Seconds(), cpu.Seconds(), float64(rss)/1024, keys)
	}

	if err := repeatPlans(bin, []string{"plan", "-f", changed}, env); err != nil {
		return err
	}

	// The apply step alone, as `dmplan apply -f` runs it after planning:
	// one task changed back and forth.
	snap, err := st.Read(ctx)
	if err != nil {
		return err
	}
	var applyTimes []time.Duration
	var keys int
	r0 := revision(ctx, cli)
	for i := range nApplies {
		want := planner.State{Sources: snap.State.Sources, Tasks: cloneTasks(snap.State.Tasks), Bounds: snap.State.Bounds}
		name := fmt.Sprintf("task-%06d", i%nTasks)
		t := want.Tasks[name]
		t.Tables = append(append([]string(nil), t.Tables...), fmt.Sprintf("extra%d.*", i))
		want.Tasks[name] = t
		// The plan `dmplan plan` makes (its changes left out: computing
		// them is planning, timed above).
		p := &planner.Plan{FormatVersion: planner.FormatVersion, BaseRevision: snap.Revision, Desired: want}
		start := time.Now()
		rec, err := st.ApplyOnto(ctx, p, &snap.State, store.ApplyRecord{Time: time.Now(), User: "bench"})
		if err != nil {
			return fmt.Errorf("one-task apply %d: %w", i, err)
		}
		applyTimes = append(applyTimes, time.Since(start))
		keys += rec.Keys
		snap.State, snap.Revision = p.Desired, rec.Revision
	}
	revs := revision(ctx, cli) - r0
	fmt.Printf("%d one-task applies through the store (the apply step of `dmplan apply -f`, plan excluded):\n", nApplies)
	fmt.Printf("  apply time: median %.1f ms, max %.1f ms (goal < 300 ms); versions written: %d in all (%.1f per apply); etcd revisions: %d\n",
		ms(median(applyTimes)), ms(maxOf(applyTimes)), keys, float64(keys)/float64(nApplies), revs)

	// etcd's size: what dmplan keeps, and what the server's history holds.
	n, bytes, err := prefixSize(ctx, cli)
	if err != nil {
		return err
	}
	sz, err := cli.Status(ctx, srv.Endpoints()[0])
	if err != nil {
		return err
	}
	fmt.Printf("etcd after them: %d keys, %.1f MB of keys and values under /dmplan/v1/; database %.1f MB, %.1f MB in use (history of %d revisions since the start, none compacted)\n",
		n, mb(bytes), mb(sz.DbSize), mb(sz.DbSizeInUse), sz.Header.Revision)
	if _, err := cli.Compact(ctx, sz.Header.Revision); err != nil {
		return err
	}
	if _, err := cli.Defragment(ctx, srv.Endpoints()[0]); err != nil {
		return err
	}
	if sz, err = cli.Status(ctx, srv.Endpoints()[0]); err != nil {
		return err
	}
	fmt.Printf("  compacted to the last revision and defragmented (what remains when the history has aged out): database %.1f MB, %.1f MB in use\n",
		mb(sz.DbSize), mb(sz.DbSizeInUse))
	return nil
}

func lastApply(ctx context.Context, st *store.Store) store.ApplyRecord {
	h, err := st.History(ctx, 1)
	if err != nil || len(h) == 0 {
		return store.ApplyRecord{}
	}
	return h[0]
}

func revision(ctx context.Context, cli *clientv3.Client) int64 {
	resp, err := cli.Get(ctx, "/dmplan/v1/head")
	if err != nil {
		return 0
	}
	return resp.Header.Revision
}

// prefixSize counts the keys under /dmplan/v1/ and their bytes, in pages.
func prefixSize(ctx context.Context, cli *clientv3.Client) (int, int64, error) {
	from, end := "/dmplan/v1/", clientv3.GetPrefixRangeEnd("/dmplan/v1/")
	var n int
	var bytes int64
	for {
		resp, err := cli.Get(ctx, from, clientv3.WithRange(end), clientv3.WithLimit(5000))
		if err != nil {
			return 0, 0, err
		}
		for _, kv := range resp.Kvs {
			n++
			bytes += int64(len(kv.Key) + len(kv.Value))
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return n, bytes, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

func cloneTasks[M ~map[K]V, K comparable, V any](m M) M {
	out := make(M, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// measure runs one dmplan process and returns its wall time, its CPU time
// (user + system: what a busy machine does not inflate) and its max RSS.
//
// The max RSS is the one the process reports (DMPLAN_PEAKRSS): the rusage
// of a child started by this process, which holds the embedded etcd, counts
// this process's own resident memory (Go starts children with vfork, and
// Linux carries the parent's memory into the child's maximum at exec).
func measure(bin string, args, env []string) (time.Duration, time.Duration, int64, error) {
	rssFile, err := os.CreateTemp("", "dmplan-peakrss-")
	if err != nil {
		return 0, 0, 0, err
	}
	rssFile.Close()
	defer os.Remove(rssFile.Name())
	cmd := exec.Command(bin, args...)
	cmd.Env = append(env[:len(env):len(env)], "DMPLAN_PEAKRSS="+rssFile.Name())
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, 0, fmt.Errorf("%v\n%s", err, out.String())
	}
	wall := time.Since(start)
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // an upper bound, if the process did not say
	if b, err := os.ReadFile(rssFile.Name()); err == nil {
		if kb, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
			rss = kb
		}
	}
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), rss, nil
}

// yamlFor is nSources sources and nTasks tasks, each on one source;
// task number changed (when >= 0) gets one more table.
func yamlFor(nSources, nTasks, changed int) string {
	var b strings.Builder
	for i := range nSources {
		fmt.Fprintf(&b, "---\napiVersion: dmplan/v1\nkind: Source\nmetadata: {name: src-%05d}\nspec: {host: 127.0.0.1, port: %d, user: dmplan, password: \"${SOURCE_PASSWORD}\"}\n", i, 10000+i%50000)
	}
	for i := range nTasks {
		extra := ""
		if i == changed {
			extra = `, "changed.*"`
		}
		fmt.Fprintf(&b, "---\napiVersion: dmplan/v1\nkind: Task\nmetadata: {name: task-%06d}\nspec:\n  mode: all\n  target: {host: 127.0.0.1, port: 4000, user: root, password: \"${TARGET_PASSWORD}\"}\n  sources: [src-%05d]\n  tables: [\"db%06d.*\", \"!db%06d.tmp_*\"%s]\n", i, i%nSources, i, i, extra)
	}
	return b.String()
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

func maxOf(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mb(n int64) float64         { return float64(n) / (1 << 20) }

// repeatPlans runs the no-change plan -plans times with this build (and
// alternately with -compare's binary) and prints the median wall and CPU.
func repeatPlans(bin string, args, env []string) error {
	if plans <= 0 {
		return nil
	}
	bins := []string{bin}
	if compareBin != "" {
		bins = append(bins, compareBin)
	}
	walls, cpus := make([][]time.Duration, len(bins)), make([][]time.Duration, len(bins))
	for range plans {
		for i, b := range bins {
			wall, cpu, _, err := measure(b, args, env)
			if err != nil {
				return fmt.Errorf("plan (no changes) with %s: %w", b, err)
			}
			walls[i], cpus[i] = append(walls[i], wall), append(cpus[i], cpu)
		}
	}
	for i, b := range bins {
		name := "this build"
		if i > 0 {
			name = b
		}
		fmt.Printf("plan (no changes) x %d, %s: median wall %.2fs, median CPU %.2fs\n", plans, name, median(walls[i]).Seconds(), median(cpus[i]).Seconds())
	}
	return nil
}
