// Command agentscale measures dmplan's control plane at scale: N agents in
// one process against an embedded etcd, an apply of S subtasks, and the
// time until every subtask is observed running in etcd (the statuses the
// agents write), then the time to fail over one agent's subtasks.
//
// The units are a SIMULATION (simulatedUnit): they do no I/O, report one
// progress update and block until cancelled. The figure is the control
// plane's — watch, read, reconcile, start, report — not the units'.
//
//	go run ./bench/agentscale [-subtasks 1000] [-agents 10] [-sources-per-task 10]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/dmplan/dmplan/agent"
	"github.com/dmplan/dmplan/internal/etcdserver"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
	"github.com/dmplan/dmplan/units"
)

func main() {
	subtasks := flag.Int("subtasks", 1000, "subtasks to apply")
	agents := flag.Int("agents", 10, "agents, in this process")
	perTask := flag.Int("sources-per-task", 10, "sources per task (subtasks / this = tasks)")
	ttl := flag.Duration("lease-ttl", agent.DefaultLeaseTTL, "agents' lease TTL")
	verbose := flag.Bool("v", false, "log the agents' warnings, and progress while waiting")
	info := flag.Bool("vv", false, "-v, and the agents' info messages (every unit started)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.StringVar(&applyProfile, "apply-cpuprofile", "", "write a CPU profile of the plan+apply step alone to this file")
	flag.StringVar(&reactProfile, "react-cpuprofile", "", "write a CPU profile from the apply's return until all are observed running to this file")
	flag.StringVar(&failoverProfile, "failover-cpuprofile", "", "write a CPU profile of the failover step alone to this file")
	flag.IntVar(&parallel, "parallel", store.DefaultParallel, "staging transactions in flight during the apply")
	memprofile := flag.String("memprofile", "", "write a heap profile (allocations) at the end of the run to this file")
	flag.Parse()
	if *memprofile != "" {
		defer func() {
			f, err := os.Create(*memprofile)
			if err == nil {
				runtime.GC()
				err = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "agentscale:", err)
			}
		}()
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "agentscale:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	level := slog.LevelError
	if *verbose {
		level = slog.LevelWarn
	}
	if *info {
		level = slog.LevelInfo
	}
	if err := run(*subtasks, *agents, *perTask, *ttl, level); err != nil {
		fmt.Fprintln(os.Stderr, "agentscale:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// applyProfile, when set, is where the plan+apply step's CPU profile goes.
var applyProfile string

// reactProfile, when set, is where the CPU profile from the apply's
// return until all subtasks are observed running goes.
var reactProfile string

// failoverProfile, when set, is where the failover step's CPU profile goes.
var failoverProfile string

// parallel is the apply's staging parallelism (store.WithParallel).
var parallel int

// simulation counts the simulated units that run.
type simulation struct {
	running atomic.Int64
	starts  atomic.Int64
}

// simulatedUnit is a SIMULATED unit: no I/O, one progress report, then
// it blocks until cancelled, like a sync unit that is caught up.
func (s *simulation) simulatedUnit(ctx context.Context, cfg units.Config, r units.Reporter) error {
	s.starts.Add(1)
	s.running.Add(1)
	defer s.running.Add(-1)
	r.Report(units.Progress{Unit: "sync", Position: units.Position{GTID: "0-1-1"}})
	<-ctx.Done()
	return ctx.Err()
}

func run(nSub, nAgents, perTask int, ttl time.Duration, level slog.Level) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	verbose := level < slog.LevelError
	dir, err := os.MkdirTemp("", "dmplan-agentscale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := etcdserver.Start(ctx, etcdserver.Config{DataDir: dir, ClientURL: "http://127.0.0.1:0", PeerURL: "http://127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer srv.Close()
	cli, err := srv.Client()
	if err != nil {
		return err
	}
	defer cli.Close()
	st := store.New(cli, store.WithParallel(parallel))

	sim := &simulation{}
	env := func(k string) (string, bool) { return map[string]string{"SRC_PW": "s", "TGT_PW": "t"}[k], true }
	type running struct {
		cancel context.CancelFunc
		cli    *clientv3.Client
		done   chan struct{}
	}
	var agents []running
	for i := range nAgents {
		acli, err := srv.Client()
		if err != nil {
			return err
		}
		actx, acancel := context.WithCancel(ctx)
		r := running{cancel: acancel, cli: acli, done: make(chan struct{})}
		go func() {
			defer close(r.done)
			agent.Run(actx, agent.Config{Name: fmt.Sprintf("agent-%02d", i), Client: acli, LeaseTTL: ttl,
				RunUnit: sim.simulatedUnit, Getenv: env, Logger: log})
		}()
		agents = append(agents, r)
	}
	defer func() {
		var wg sync.WaitGroup
		for _, r := range agents {
			wg.Go(func() { r.cancel(); <-r.done; r.cli.Close() })
		}
		wg.Wait()
	}()
	if err := waitFor(ctx, time.Minute, func() (bool, error) {
		ws, err := st.Workers(ctx)
		return len(ws) == nAgents, err
	}); err != nil {
		return fmt.Errorf("agents registering: %w", err)
	}

	obs := newObserver()
	go st.WatchStatuses(ctx, obs.update)
	marks := newTimeline(ctx, cli, obs, sim)

	h, err := st.Hasher(ctx)
	if err != nil {
		return err
	}
	want := desired(nSub, perTask, h)
	if applyProfile != "" {
		f, err := os.Create(applyProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			return err
		}
	}
	c0, d0, r0 := cpuTime(), diskNow(), requests()
	t0 := time.Now()
	snap, err := st.Read(ctx)
	if err != nil {
		return err
	}
	p := planner.Diff(want, snap.State, snap.Workers)
	p.BaseRevision = snap.Revision
	rec, err := st.ApplyOnto(ctx, p, &snap.State, store.ApplyRecord{Time: time.Now(), User: "agentscale"})
	if err != nil {
		return err
	}
	applied, appliedCPU := time.Since(t0), cpuTime()-c0
	tApplied := time.Now()
	if applyProfile != "" {
		pprof.StopCPUProfile()
	}
	if reactProfile != "" {
		f, err := os.Create(reactProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			return err
		}
	}
	var started time.Duration
	if err := waitFor(ctx, time.Minute, func() (bool, error) {
		if started == 0 && sim.running.Load() == int64(nSub) {
			started = time.Since(t0)
		}
		n := obs.runningNotBy("")
		if verbose {
			fmt.Fprintf(os.Stderr, "%6.0f ms: %d units running, %d observed running\n", ms(time.Since(t0)), sim.running.Load(), n)
		}
		return n == nSub, nil
	}); err != nil {
		return fmt.Errorf("waiting for %d subtasks observed running: %w", nSub, err)
	}
	observed, observedCPU := time.Since(t0), cpuTime()-c0
	afterApply, afterApplyCPU := time.Since(tApplied), cpuTime()-c0-appliedCPU
	if reactProfile != "" {
		pprof.StopCPUProfile()
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("agentscale: %d subtasks (%d tasks x %d sources) on %d agents, SIMULATED units (no I/O), lease TTL %s\n",
		nSub, nSub/perTask, perTask, nAgents, ttl)
	fmt.Printf("  load average at the start: %s", load)
	fmt.Printf("  plan+apply (the apply returned):    %8.0f ms (%d versions written, committed at revision %d); CPU %.0f ms\n", ms(applied), rec.Keys, rec.Revision, ms(appliedCPU))
	fmt.Printf("  the apply returned -> all observed running in etcd: %5.0f ms; CPU %.0f ms\n", ms(afterApply), ms(afterApplyCPU))
	fmt.Printf("  plan+apply began -> all simulated units running:  %6.0f ms\n", ms(started))
	fmt.Printf("  plan+apply began -> all observed running in etcd: %6.0f ms; CPU used by the process (etcd, agents, bench): %.0f ms\n",
		ms(observed), ms(observedCPU))
	marks.print("  ", t0)
	fmt.Printf("  etcd: %s\n  etcd requests: %s\n", diskNow().since(d0), requestsSince(r0))

	// Fail over: agent-00 dies without revoking its lease.
	victim := agents[0]
	if failoverProfile != "" {
		f, err := os.Create(failoverProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	lostBefore := marks.count("worker key deleted")
	marks.reset()
	marks.follow(obs.ranBy("agent-00"), "agent-00")
	c1, d1, r1 := cpuTime(), diskNow(), requests()
	t1 := time.Now()
	if verbose {
		fmt.Fprintf(os.Stderr, "%s: killing agent-00\n", time.Now().UTC().Format("15:04:05.000"))
	}
	if lost := lostBefore; lost > 0 {
		fmt.Printf("  WARNING: %d agents lost their lease during the apply step (the process was starved: see the load average); the figures above include their restarts\n", lost)
	}
	if n := len(obs.ranBy("agent-00")); n == 0 {
		return fmt.Errorf("agent-00 runs no subtask (its lease was lost and its sources moved before the kill: the process is starved); failover not measured")
	}
	left := leaseLeft(ctx, cli, "/dmplan/v1/worker/agent-00")
	victim.cli.Close()
	victim.cancel()
	<-victim.done
	if err := waitFor(ctx, time.Minute, func() (bool, error) {
		return obs.runningNotBy("agent-00") == nSub && sim.running.Load() == int64(nSub), nil
	}); err != nil {
		return fmt.Errorf("failover: %w", err)
	}
	fmt.Printf("  agent-00 killed -> all %d observed running on the other agents: %.0f ms (lease TTL %s, goal < TTL + 2 s); CPU %.0f ms\n",
		nSub, ms(time.Since(t1)), ttl, ms(cpuTime()-c1))
	if left > 0 {
		fmt.Printf("  the lease of agent-00 had %.0f-%.0f s left when it was killed (etcd gives whole seconds; it expires then, and the server revokes it within 500 ms)\n", left.Seconds(), left.Seconds()+1)
	}
	marks.print("  ", t1)
	fmt.Printf("  etcd: %s\n  etcd requests: %s\n", diskNow().since(d1), requestsSince(r1))
	if hist, err := st.History(ctx, 1); err == nil && len(hist) == 1 {
		fmt.Printf("  failover apply %s by %s: %d versions written (the bounds that moved)\n", hist[0].ID, hist[0].User, hist[0].Keys)
	}
	fmt.Printf("  simulated unit starts in all: %d\n", sim.starts.Load())
	return nil
}

// observer follows the statuses in etcd through one watch (a poll of
// 10,000 statuses every few milliseconds would load etcd more than the
// agents it measures).
type observer struct {
	mu      sync.Mutex
	sts     map[string]store.SubtaskStatus
	running int            // statuses in stage running
	by      map[string]int // of them, per worker
	// onChange, when set, is called (under the lock) with the count of
	// statuses running after each update.
	onChange func(key string, st store.SubtaskStatus, running int)
}

func newObserver() *observer {
	return &observer{sts: map[string]store.SubtaskStatus{}, by: map[string]int{}}
}

func (o *observer) update(st store.SubtaskStatus, deleted bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	key := st.Task + "/" + st.Source
	if old, ok := o.sts[key]; ok && old.Stage == spec.StageRunning {
		o.running--
		o.by[old.Worker]--
	}
	if deleted {
		delete(o.sts, key)
		return
	}
	o.sts[key] = st
	if st.Stage == spec.StageRunning {
		o.running++
		o.by[st.Worker]++
	}
	if o.onChange != nil {
		o.onChange(key, st, o.running)
	}
}

// ranBy lists the subtasks (task/source) that worker reports.
func (o *observer) ranBy(worker string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for k, st := range o.sts {
		if st.Worker == worker {
			out = append(out, k)
		}
	}
	return out
}

// runningNotBy counts statuses in stage running, not reported by notBy.
func (o *observer) runningNotBy(notBy string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.running - o.by[notBy]
}

// desired is nSub/perTask tasks, each over perTask sources of its own.
func desired(nSub, perTask int, h *spec.Hasher) planner.State {
	st := planner.State{Sources: map[string]spec.Source{}, Tasks: map[string]spec.Task{}, Bounds: map[string]string{}}
	srcPW := spec.Secret{Ref: "SRC_PW", Digest: h.Digest("SRC_PW", "s")}
	tgtPW := spec.Secret{Ref: "TGT_PW", Digest: h.Digest("TGT_PW", "t")}
	for t := range nSub / perTask {
		task := spec.Task{Name: fmt.Sprintf("task-%04d", t), Mode: spec.ModeAll, Stage: spec.StageRunning,
			Target: spec.Endpoint{Host: "127.0.0.1", Port: 4000, User: "root", Password: tgtPW},
			Tables: []string{"shop.*"}, Dump: spec.DumpConfig{Threads: 4}, Sync: spec.SyncConfig{Workers: 8, Batch: 100}}
		for s := range perTask {
			name := fmt.Sprintf("src-%05d", t*perTask+s)
			st.Sources[name] = spec.Source{Name: name, Endpoint: spec.Endpoint{Host: "127.0.0.1", Port: 3306, User: "dm", Password: srcPW}}
			task.Sources = append(task.Sources, name)
		}
		st.Tasks[task.Name] = task
	}
	return st
}

func waitFor(ctx context.Context, d time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(d)
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("timed out after %s: %w", d, err)
			}
			return fmt.Errorf("timed out after %s", d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// leaseLeft is the time to live of the lease key is attached to (0: not
// known).
func leaseLeft(ctx context.Context, cli *clientv3.Client, key string) time.Duration {
	resp, err := cli.Get(ctx, key)
	if err != nil || len(resp.Kvs) == 0 || resp.Kvs[0].Lease == 0 {
		return 0
	}
	ttl, err := cli.TimeToLive(ctx, clientv3.LeaseID(resp.Kvs[0].Lease))
	if err != nil || ttl.TTL <= 0 {
		return 0
	}
	return time.Duration(ttl.TTL) * time.Second
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
