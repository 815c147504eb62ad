package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/dmplan/dmplan/internal/etcdserver"
	"github.com/dmplan/dmplan/internal/etcdserver/etcdtest"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/reconciler"
	"github.com/dmplan/dmplan/spec"
	"github.com/dmplan/dmplan/units"
)

var (
	etcd *etcdtest.Server
	// hasher is the installation's: the agents check applied digests with
	// the salt kept in etcd.
	hasher *spec.Hasher
)

func TestMain(m *testing.M) {
	var err error
	etcd, err = etcdtest.StartMain(etcdserver.Config{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if hasher, err = store.New(etcd.Client).Hasher(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		etcd.Stop()
		os.Exit(1)
	}
	code := m.Run()
	etcd.Stop()
	os.Exit(code)
}

// clean empties the keyspace between tests, but for the installation
// salt (as a new installation would, with the salt hasher was made from).
func clean(t *testing.T) {
	t.Helper()
	const keep = "/dmplan/v1/installation"
	ctx := context.Background()
	if _, err := etcd.Client.Delete(ctx, "/dmplan/", clientv3.WithRange(keep)); err != nil {
		t.Fatal(err)
	}
	if _, err := etcd.Client.Delete(ctx, keep+"\x00", clientv3.WithRange(clientv3.GetPrefixRangeEnd("/dmplan/"))); err != nil {
		t.Fatal(err)
	}
}

// shareInstallation gives another etcd the installation salt of the
// package's, so that the helpers' digests hold there too.
func shareInstallation(t *testing.T, cli *clientv3.Client) {
	t.Helper()
	const key = "/dmplan/v1/installation"
	ctx := context.Background()
	resp, err := etcd.Client.Get(ctx, key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("read the installation: %v", err)
	}
	if _, err := cli.Put(ctx, key, string(resp.Kvs[0].Value)); err != nil {
		t.Fatal(err)
	}
}

// units records which agent runs which subtask; a unit blocks until its
// context ends, like a sync that never finishes.
type unitLog struct {
	mu      sync.Mutex
	running map[string]string // task/source -> agent
	double  []string          // subtasks that ran on two agents at once
	configs map[string]units.Config
	starts  map[string]int
}

func newUnitLog() *unitLog {
	return &unitLog{running: map[string]string{}, configs: map[string]units.Config{}, starts: map[string]int{}}
}

func (u *unitLog) runFunc(agent string) units.RunFunc {
	return func(ctx context.Context, cfg units.Config, r units.Reporter) error {
		key := cfg.Task + "/" + cfg.Source
		u.mu.Lock()
		if other, ok := u.running[key]; ok {
			u.double = append(u.double, key+" on "+other+" and "+agent)
		}
		u.running[key] = agent
		u.configs[key] = cfg
		u.starts[key]++
		u.mu.Unlock()
		r.Report(units.Progress{Unit: "sync", RowsDone: 7, Lag: 1500 * time.Millisecond,
			Position: units.Position{File: "mysql-bin.000001", Pos: 4, GTID: "0-1-1"}})
		<-ctx.Done()
		u.mu.Lock()
		if u.running[key] == agent {
			delete(u.running, key)
		}
		u.mu.Unlock()
		return ctx.Err()
	}
}

func (u *unitLog) where(key string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.running[key]
}

// startAgent runs an agent with its own etcd client, which the returned
// crash function closes without revoking the lease (the cluster sees a
// dead agent only when the lease expires); stop is a clean shutdown.
func startAgent(t *testing.T, name string, ul *unitLog, mod func(*Config)) (stop, crash func()) {
	t.Helper()
	cli, err := etcd.Server.Client()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Name: name, Client: cli, LeaseTTL: 2 * time.Second, RunUnit: ul.runFunc(name),
		Getenv: func(k string) (string, bool) {
			return map[string]string{"SRC_PW": "s3cret", "TGT_PW": "t4rget"}[k], true
		},
		Resync:       time.Second,
		FailoverPoll: 100 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("agent %s: %v", name, err)
			}
			cli.Close()
		})
	}
	crash = func() {
		once.Do(func() {
			cli.Close() // no revoke: the lease expires on its own
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return stop, crash
}

func source(name, pin string) spec.Source {
	return spec.Source{Name: name, Worker: pin, Endpoint: spec.Endpoint{Host: "127.0.0.1", Port: 3306, User: "dm",
		Password: spec.Secret{Ref: "SRC_PW", Digest: hasher.Digest("SRC_PW", "s3cret")}}}
}

func task(name string, stage spec.Stage, sources ...string) spec.Task {
	return spec.Task{Name: name, Mode: spec.ModeAll, Stage: stage, Sources: sources, Tables: []string{"shop.*"},
		Target: spec.Endpoint{Host: "127.0.0.1", Port: 4000, User: "root",
			Password: spec.Secret{Ref: "TGT_PW", Digest: hasher.Digest("TGT_PW", "t4rget")}},
		Dump: spec.DumpConfig{Threads: 4}, Sync: spec.SyncConfig{Workers: 8, Batch: 100}}
}

func state(srcs []spec.Source, tasks ...spec.Task) planner.State {
	st := planner.State{Sources: map[string]spec.Source{}, Tasks: map[string]spec.Task{}, Bounds: map[string]string{}}
	for _, s := range srcs {
		st.Sources[s.Name] = s
	}
	for _, t := range tasks {
		st.Tasks[t.Name] = t
	}
	return st
}

// apply plans want against etcd and applies it, as `dmplan apply` does.
func apply(t *testing.T, want planner.State) *planner.Plan {
	t.Helper()
	s := store.New(etcd.Client)
	ctx := context.Background()
	snap, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := planner.Diff(want, snap.State, snap.Workers)
	p.BaseRevision = snap.Revision
	if _, err := s.Apply(ctx, p, store.ApplyRecord{Time: time.Now(), User: "test"}); err != nil {
		t.Fatal(err)
	}
	return p
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func statusOf(t *testing.T, key string) (store.SubtaskStatus, bool) {
	t.Helper()
	sts, err := store.New(etcd.Client).Statuses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		if st.Task+"/"+st.Source == key {
			return st, true
		}
	}
	return store.SubtaskStatus{}, false
}

func waitWorkers(t *testing.T, n int) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("%d workers", n), func() bool {
		ws, err := store.New(etcd.Client).Workers(context.Background())
		return err == nil && len(ws) == n
	})
}

func TestAgentRunsReportsAndFailsOver(t *testing.T) {
	clean(t)
	ul := newUnitLog()
	_, crashA := startAgent(t, "agent-a", ul, nil)
	startAgent(t, "agent-b", ul, nil)
	waitWorkers(t, 2)

	p := apply(t, state([]spec.Source{source("src-1", ""), source("src-2", "")}, task("shop", spec.StageRunning, "src-1", "src-2")))
	if p.Desired.Bounds["src-1"] != "agent-a" || p.Desired.Bounds["src-2"] != "agent-b" {
		t.Fatalf("bounds = %v", p.Desired.Bounds)
	}
	took := waitFor(t, 5*time.Second, "both units running", func() bool {
		return ul.where("shop/src-1") == "agent-a" && ul.where("shop/src-2") == "agent-b"
	})
	t.Logf("apply -> units running: %s", took)
	ul.mu.Lock()
	cfg := ul.configs["shop/src-1"]
	ul.mu.Unlock()
	if cfg.From.Password != "s3cret" || cfg.To.Password != "t4rget" || cfg.SyncBatch != 100 || cfg.Mode != units.ModeAll {
		t.Fatalf("unit config = %+v", cfg)
	}
	waitFor(t, 5*time.Second, "a status with progress", func() bool {
		st, ok := statusOf(t, "shop/src-1")
		return ok && st.Stage == spec.StageRunning && st.Worker == "agent-a" && st.Unit == "sync" &&
			st.Progress.RowsDone == 7 && st.LagSeconds == 1.5 && st.GTID == "0-1-1"
	})

	// agent-a dies without revoking its lease: its source moves to
	// agent-b once the lease expires.
	crashA()
	took = waitFor(t, 10*time.Second, "src-1 to run on agent-b", func() bool { return ul.where("shop/src-1") == "agent-b" })
	t.Logf("agent killed -> its subtask running on the other agent: %s", took)
	snap, err := store.New(etcd.Client).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if snap.State.Bounds["src-1"] != "agent-b" {
		t.Fatalf("bounds after failover = %v", snap.State.Bounds)
	}
	hist, err := store.New(etcd.Client).History(context.Background(), 1)
	if err != nil || len(hist) != 1 || hist[0].User != "agent:agent-b" {
		t.Fatalf("last apply = %+v, %v; want one by agent:agent-b", hist, err)
	}
	waitFor(t, 5*time.Second, "src-1's status from agent-b", func() bool {
		st, ok := statusOf(t, "shop/src-1")
		return ok && st.Worker == "agent-b"
	})
	ul.mu.Lock()
	defer ul.mu.Unlock()
	if len(ul.double) > 0 {
		t.Fatalf("subtasks ran on two agents at once: %v", ul.double)
	}
}

func TestAgentStagesRemovalAndWaiting(t *testing.T) {
	clean(t)
	ul := newUnitLog()
	// Applied before any agent exists: the source waits.
	p := apply(t, state([]spec.Source{source("src-1", "")}, task("shop", spec.StageRunning, "src-1")))
	if len(p.Waiting) != 1 {
		t.Fatalf("waiting = %v", p.Waiting)
	}
	startAgent(t, "agent-a", ul, nil)
	took := waitFor(t, 10*time.Second, "the waiting source to be bound and run", func() bool { return ul.where("shop/src-1") == "agent-a" })
	t.Logf("agent joined -> waiting source running: %s", took)

	apply(t, state([]spec.Source{source("src-1", "")}, task("shop", spec.StagePaused, "src-1")))
	waitFor(t, 5*time.Second, "the unit to stop and the status to say paused", func() bool {
		st, ok := statusOf(t, "shop/src-1")
		return ul.where("shop/src-1") == "" && ok && st.Stage == spec.StagePaused
	})
	apply(t, state([]spec.Source{source("src-1", "")}, task("shop", spec.StageRunning, "src-1")))
	waitFor(t, 5*time.Second, "the unit to run again", func() bool { return ul.where("shop/src-1") == "agent-a" })

	// The task is removed: the unit stops, the status goes.
	apply(t, state([]spec.Source{source("src-1", "")}))
	waitFor(t, 5*time.Second, "the unit to stop and its status to go", func() bool {
		_, ok := statusOf(t, "shop/src-1")
		return ul.where("shop/src-1") == "" && !ok
	})
}

func TestAgentPasswordMismatchAndRotation(t *testing.T) {
	clean(t)
	ul := newUnitLog()
	env := &mapEnv{m: map[string]string{"TGT_PW": "t4rget"}}
	startAgent(t, "agent-a", ul, func(c *Config) { c.Getenv = env.get })
	waitWorkers(t, 1)
	apply(t, state([]spec.Source{source("src-1", "")}, task("shop", spec.StageRunning, "src-1")))
	var st store.SubtaskStatus
	// The variable is missing: the error names it and says where to set it.
	waitFor(t, 5*time.Second, "stage error for the missing password", func() bool {
		var ok bool
		st, ok = statusOf(t, "shop/src-1")
		return ok && st.Stage == reconciler.StageError
	})
	if !strings.Contains(st.Error, "agent agent-a has no $SRC_PW in its environment") || !strings.Contains(st.Error, "--env-file") {
		t.Fatalf("error = %q", st.Error)
	}
	env.set("SRC_PW", "old-value")
	waitFor(t, 5*time.Second, "stage error for the password mismatch", func() bool {
		var ok bool
		st, ok = statusOf(t, "shop/src-1")
		return ok && st.Stage == reconciler.StageError && strings.Contains(st.Error, "differs")
	})
	if !strings.Contains(st.Error, "agent agent-a's $SRC_PW differs from the applied password") ||
		strings.Contains(st.Error, "old-value") || strings.Contains(st.Error, "s3cret") {
		t.Fatalf("error = %q", st.Error)
	}
	if ul.where("shop/src-1") != "" {
		t.Fatal("a subtask whose password differs runs")
	}
	// The agent's value is fixed (an env file would be rewritten): the
	// next reconcile starts the unit with it.
	env.set("SRC_PW", "s3cret")
	waitFor(t, 5*time.Second, "the unit to start with the fixed password", func() bool { return ul.where("shop/src-1") == "agent-a" })

	// Rotation: the agent gets the new value and the new digest is
	// applied; the unit restarts with the new password.
	env.set("SRC_PW", "n3w")
	src := source("src-1", "")
	src.Password.Digest = hasher.Digest("SRC_PW", "n3w")
	apply(t, state([]spec.Source{src}, task("shop", spec.StageRunning, "src-1")))
	waitFor(t, 5*time.Second, "the unit to run with the rotated password", func() bool {
		ul.mu.Lock()
		defer ul.mu.Unlock()
		return ul.running["shop/src-1"] == "agent-a" && ul.configs["shop/src-1"].From.Password == "n3w"
	})
}

func TestAgentMetrics(t *testing.T) {
	clean(t)
	ul := newUnitLog()
	m := NewMetrics("agent-a")
	startAgent(t, "agent-a", ul, func(c *Config) { c.Metrics = m })
	waitWorkers(t, 1)
	apply(t, state([]spec.Source{source("src-1", "")}, task("shop", spec.StageRunning, "src-1")))
	waitFor(t, 5*time.Second, "the unit", func() bool { return ul.where("shop/src-1") == "agent-a" })
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	var body string
	waitFor(t, 5*time.Second, "metrics of the subtask", func() bool {
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		return strings.Contains(body, `dmplan_subtask_lag_seconds{agent="agent-a",source="src-1",task="shop"} 1.5`)
	})
	for _, want := range []string{
		`dmplan_subtask_stage{agent="agent-a",source="src-1",stage="running",task="shop"} 1`,
		`dmplan_subtask_unit{agent="agent-a",source="src-1",task="shop",unit="sync"} 1`,
		`dmplan_subtask_rows{agent="agent-a",source="src-1",task="shop",unit="sync"} 7`,
		`dmplan_agent_actions_total{agent="agent-a",kind="start"} 1`,
		`dmplan_agent_failover_leader{agent="agent-a"} 1`,
		`dmplan_agent_reconciles_total{agent="agent-a",result="ok"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, "s3cret") || strings.Contains(body, "t4rget") {
		t.Fatal("a password in the metrics")
	}
}

type mapEnv struct {
	mu sync.Mutex
	m  map[string]string
}

func (e *mapEnv) get(k string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.m[k]
	return v, ok
}

func (e *mapEnv) set(k, v string) {
	e.mu.Lock()
	e.m[k] = v
	e.mu.Unlock()
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{{}, {Name: "a"}, {Name: "a", Client: etcd.Client}, {Name: "a", Client: etcd.Client, RunUnit: newUnitLog().runFunc("a"), LeaseTTL: time.Millisecond}} {
		if err := Run(context.Background(), c); !errors.Is(err, ErrConfig) {
			t.Errorf("Run(%+v) = %v, want ErrConfig", c, err)
		}
	}
}

// Digests in the legacy form (written before installation salts) still
// let the agent run its units, and the apply that rewrites them in the
// current form restarts nothing: the password is the same.
func TestAgentLegacyDigestRewriteRestartsNothing(t *testing.T) {
	clean(t)
	ul := newUnitLog()
	startAgent(t, "agent-a", ul, nil)
	legacy := source("src-1", "")
	legacy.Password.Digest = spec.LegacyDigest("SRC_PW", "s3cret")
	old := task("shop", spec.StageRunning, "src-1")
	old.Target.Password.Digest = spec.LegacyDigest("TGT_PW", "t4rget")
	apply(t, state([]spec.Source{legacy}, old))
	waitFor(t, 10*time.Second, "the unit to run with legacy digests", func() bool { return ul.where("shop/src-1") == "agent-a" })

	// The rewrite, then a new task on the same source: once that runs,
	// the agent has reconciled the rewritten state.
	apply(t, state([]spec.Source{source("src-1", "")}, task("shop", spec.StageRunning, "src-1")))
	apply(t, state([]spec.Source{source("src-1", "")}, task("shop", spec.StageRunning, "src-1"), task("crm", spec.StageRunning, "src-1")))
	waitFor(t, 10*time.Second, "the new task to run", func() bool { return ul.where("crm/src-1") == "agent-a" })
	ul.mu.Lock()
	defer ul.mu.Unlock()
	if n := ul.starts["shop/src-1"]; n != 1 {
		t.Fatalf("shop/src-1 started %d times; rewriting a digest must restart nothing", n)
	}
}
