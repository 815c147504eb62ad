package reconciler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
	"github.com/dmplan/dmplan/units/job"
)

// scripted is a RunFunc whose behaviour each test sets per subtask: block
// until cancelled (nil outcome), or return an error at once.
type scripted struct {
	mu      sync.Mutex
	outcome map[string]error // task/source -> what the next runs return; absent: block
	running map[string]int   // concurrent runs, to prove there is never more than one
	starts  map[string]int
	configs map[string]job.Config
	maxRun  int
}

func newScripted() *scripted {
	return &scripted{outcome: map[string]error{}, running: map[string]int{}, starts: map[string]int{}, configs: map[string]job.Config{}}
}

func (s *scripted) set(key string, err error) {
	s.mu.Lock()
	s.outcome[key] = err
	s.mu.Unlock()
}

func (s *scripted) run(ctx context.Context, cfg job.Config, r job.Reporter) error {
	key := cfg.Task + "/" + cfg.Source
	s.mu.Lock()
	s.starts[key]++
	s.running[key]++
	s.maxRun = max(s.maxRun, s.running[key])
	s.configs[key] = cfg
	err, ok := s.outcome[key]
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running[key]--
		s.mu.Unlock()
	}()
	r.Report(job.Progress{Unit: "sync", RowsDone: 1})
	if ok {
		return err
	}
	<-ctx.Done()
	return ctx.Err()
}

func (s *scripted) get(key string) (starts, running int, cfg job.Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts[key], s.running[key], s.configs[key]
}

// desiredSet is what the test says should run; the loop reads it.
type desiredSet struct {
	mu  sync.Mutex
	d   []Desired
	err error
}

func (d *desiredSet) set(ds ...Desired) {
	d.mu.Lock()
	d.d = ds
	d.mu.Unlock()
}

func (d *desiredSet) read(context.Context) ([]Desired, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Desired(nil), d.d...), d.err
}

func desired(task, source string, stage spec.Stage, mode job.Mode, fp Fingerprint) Desired {
	return Desired{
		ID: id(task, source), Stage: stage, Fingerprint: fp,
		Config: job.Config{Task: task, Source: source, Mode: mode},
	}
}

func startLoop(t *testing.T, ds *desiredSet, run job.RunFunc) (*Loop, func() []planner.SubtaskID) {
	t.Helper()
	var (
		mu        sync.Mutex
		forgotten []planner.SubtaskID
	)
	l := NewLoop(LoopConfig{
		Desired: ds.read, Run: run,
		Forget:     func(id planner.SubtaskID) { mu.Lock(); forgotten = append(forgotten, id); mu.Unlock() },
		BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
		Resync: 50 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return l, func() []planner.SubtaskID {
		mu.Lock()
		defer mu.Unlock()
		return append([]planner.SubtaskID(nil), forgotten...)
	}
}

// waitState waits until the loop reports want for id.
func waitState(t *testing.T, l *Loop, key string, want State) Status {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var last []Status
	for time.Now().Before(deadline) {
		last = l.Statuses()
		for _, st := range last {
			if st.ID.String() == key && st.State == want {
				return st
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s never reached %s; statuses: %+v", key, want, last)
	return Status{}
}

func TestLoopLifecycle(t *testing.T) {
	run := newScripted()
	ds := &desiredSet{}
	ds.set(desired("shop", "s1", spec.StageRunning, job.ModeAll, fpA))
	l, forgotten := startLoop(t, ds, run.run)
	const key = "shop/s1"

	waitState(t, l, key, StateRunning)
	// Pause: the unit stops, the state says paused.
	ds.set(desired("shop", "s1", spec.StagePaused, job.ModeAll, fpA))
	l.Wake()
	waitState(t, l, key, StatePaused)
	if _, running, _ := run.get(key); running != 0 {
		t.Fatalf("paused, but %d runs are still going", running)
	}
	// Resume.
	ds.set(desired("shop", "s1", spec.StageRunning, job.ModeAll, fpA))
	l.Wake()
	waitState(t, l, key, StateRunning)
	starts, _, _ := run.get(key)
	// A tuning change restarts the unit with the new config.
	d := desired("shop", "s1", spec.StageRunning, job.ModeAll, fpA2)
	d.Config.SyncBatch = 500
	ds.set(d)
	l.Wake()
	waitFor(t, "the unit to run with the new batch", func() bool {
		n, running, cfg := run.get(key)
		return n == starts+1 && running == 1 && cfg.SyncBatch == 500
	})
	// Removed: the unit stops and the subtask is forgotten.
	ds.set()
	l.Wake()
	waitFor(t, "the subtask to be forgotten", func() bool { return len(forgotten()) > 0 })
	if _, running, _ := run.get(key); running != 0 {
		t.Fatalf("forgotten, but %d runs are still going", running)
	}
	if f := forgotten(); len(f) != 1 || f[0].String() != key || len(l.Statuses()) != 0 {
		t.Fatalf("forgotten = %v, statuses %v", f, l.Statuses())
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	if run.maxRun != 1 {
		t.Fatalf("a subtask ran %d times at once", run.maxRun)
	}
}

func TestLoopErrors(t *testing.T) {
	run := newScripted()
	run.set("shop/transient", fmt.Errorf("read binlog: %w", errors.New("connection refused")))
	run.set("shop/permanent", job.Permanent(errors.New("binlog purged past the checkpoint")))
	run.set("full/s1", nil)
	ds := &desiredSet{}
	ds.set(
		desired("shop", "transient", spec.StageRunning, job.ModeAll, fpA),
		desired("shop", "permanent", spec.StageRunning, job.ModeAll, fpA),
		desired("full", "s1", spec.StageRunning, job.ModeFull, fpA),
	)
	l, _ := startLoop(t, ds, run.run)

	st := waitState(t, l, "shop/permanent", StateError)
	if st.Stage != StageError || st.Error != "binlog purged past the checkpoint" {
		t.Fatalf("permanent error status = %+v", st)
	}
	waitState(t, l, "full/s1", StateFinished)
	// Transient errors are retried with backoff, again and again.
	waitFor(t, "three retries", func() bool { n, _, _ := run.get("shop/transient"); return n >= 3 })
	for _, s := range l.Statuses() {
		if s.ID.String() == "shop/transient" && (s.Stage != spec.StageRunning || s.Error == "") {
			t.Fatalf("a retrying subtask shows %+v; want stage running with its error", s)
		}
	}
	// Neither the errored nor the finished subtask is started again
	// while nothing changes (resync runs every 50ms).
	time.Sleep(300 * time.Millisecond)
	if n, _, _ := run.get("shop/permanent"); n != 1 {
		t.Fatalf("a permanent error was retried: %d starts", n)
	}
	if n, _, _ := run.get("full/s1"); n != 1 {
		t.Fatalf("a finished full task was started again: %d starts", n)
	}
	// A config change gets the errored subtask going again.
	run.set("shop/permanent", errors.New("now only transient"))
	ds.set(
		desired("shop", "transient", spec.StageRunning, job.ModeAll, fpA),
		desired("shop", "permanent", spec.StageRunning, job.ModeAll, fpB),
		desired("full", "s1", spec.StageRunning, job.ModeFull, fpA),
	)
	l.Wake()
	waitFor(t, "the errored subtask to start again", func() bool { n, _, _ := run.get("shop/permanent"); return n >= 2 })
}

func TestLoopConfigErrorAndDesiredReadError(t *testing.T) {
	run := newScripted()
	ds := &desiredSet{}
	ds.set(desired("shop", "s1", spec.StageRunning, job.ModeAll, fpA))
	l, _ := startLoop(t, ds, run.run)
	waitState(t, l, "shop/s1", StateRunning)

	// etcd unreachable: running units are left alone.
	ds.mu.Lock()
	ds.err = errors.New("etcd unavailable")
	ds.mu.Unlock()
	time.Sleep(200 * time.Millisecond)
	if _, running, _ := run.get("shop/s1"); running != 1 {
		t.Fatal("a failed read of the desired state stopped a unit")
	}
	ds.mu.Lock()
	ds.err = nil
	ds.mu.Unlock()

	bad := desired("shop", "s1", spec.StageRunning, job.ModeAll, fpA)
	bad.Err = "agent a's $SOURCE_PASSWORD differs from the applied password"
	ds.set(bad)
	l.Wake()
	st := waitState(t, l, "shop/s1", StateError)
	if st.Error != bad.Err {
		t.Fatalf("error = %q", st.Error)
	}
	if _, running, _ := run.get("shop/s1"); running != 0 {
		t.Fatal("a subtask with a config error still runs")
	}
	// Fixed (same applied config): it starts again.
	ds.set(desired("shop", "s1", spec.StageRunning, job.ModeAll, fpA))
	l.Wake()
	waitState(t, l, "shop/s1", StateRunning)
}

func TestLoopStopsAllUnitsAtOnce(t *testing.T) {
	run := newScripted()
	ds := &desiredSet{}
	var want []Desired
	for i := range 50 {
		want = append(want, desired("t", fmt.Sprintf("s%02d", i), spec.StageRunning, job.ModeAll, fpA))
	}
	ds.set(want...)
	l := NewLoop(LoopConfig{Desired: ds.read, Run: run.run})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	waitFor(t, "50 units to run", func() bool {
		run.mu.Lock()
		defer run.mu.Unlock()
		n := 0
		for _, r := range run.running {
			n += r
		}
		return n == 50
	})
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	for k, r := range run.running {
		if r != 0 {
			t.Fatalf("%s still running after Run returned", k)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLoopStuckUnitDoesNotStallOthers: a unit that ignores its cancel (its
// source or target hangs) holds the loop for one StopBound at most; the
// other subtasks are paused and started meanwhile, and the stuck one is
// not started twice.
func TestLoopStuckUnitDoesNotStallOthers(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	running := map[string]int{}
	maxRun := 0
	run := func(ctx context.Context, cfg job.Config, r job.Reporter) error {
		key := cfg.Task + "/" + cfg.Source
		mu.Lock()
		running[key]++
		maxRun = max(maxRun, running[key])
		mu.Unlock()
		defer func() { mu.Lock(); running[key]--; mu.Unlock() }()
		<-ctx.Done()
		if key == "shop/stuck" {
			<-release // a hung server: the cancel is not heard
		}
		return ctx.Err()
	}
	ds := &desiredSet{}
	ds.set(desired("shop", "stuck", spec.StageRunning, job.ModeAll, fpA), desired("shop", "ok", spec.StageRunning, job.ModeAll, fpA))
	l := NewLoop(LoopConfig{Desired: ds.read, Run: run, Resync: 50 * time.Millisecond, StopBound: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	defer func() { close(release); cancel(); <-done }()
	waitState(t, l, "shop/stuck", StateRunning)
	waitState(t, l, "shop/ok", StateRunning)

	// Pause both and add a new subtask: the stuck unit does not hold up
	// the others.
	ds.set(desired("shop", "stuck", spec.StagePaused, job.ModeAll, fpA), desired("shop", "ok", spec.StagePaused, job.ModeAll, fpA),
		desired("shop", "new", spec.StageRunning, job.ModeAll, fpA))
	l.Wake()
	waitState(t, l, "shop/ok", StatePaused)
	waitState(t, l, "shop/new", StateRunning)
	// Resume the stuck one while its unit still hangs: not started twice.
	ds.set(desired("shop", "stuck", spec.StageRunning, job.ModeAll, fpA), desired("shop", "ok", spec.StagePaused, job.ModeAll, fpA),
		desired("shop", "new", spec.StageRunning, job.ModeAll, fpA2))
	l.Wake()
	waitFor(t, "the new subtask to restart with its new tuning", func() bool {
		for _, st := range l.Statuses() {
			if st.ID.String() == "shop/new" && st.Restarts == 1 && st.State == StateRunning {
				return true
			}
		}
		return false
	})
	mu.Lock()
	if running["shop/stuck"] != 1 || maxRun != 1 {
		t.Errorf("stuck subtask runs: %d (max at once %d), want 1", running["shop/stuck"], maxRun)
	}
	mu.Unlock()
}

// TestLoopReportsFinishedAtOnce: a full copy is reported finished, as a
// state change, when its unit says so, not only once the unit has
// closed its connections and returned.
func TestLoopReportsFinishedAtOnce(t *testing.T) {
	release := make(chan struct{})
	run := func(ctx context.Context, cfg job.Config, r job.Reporter) error {
		r.Report(job.Progress{Unit: "load", RowsDone: 10})
		r.Report(job.Progress{Finished: true})
		select { // closing connections
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}
	got := make(chan Status, 16)
	ds := &desiredSet{}
	ds.set(desired("full", "s1", spec.StageRunning, job.ModeFull, fpA))
	l := NewLoop(LoopConfig{
		Desired: ds.read, Run: run, Resync: 50 * time.Millisecond,
		Report: func(st Status, changed bool) {
			if st.Stage == StageFinished && changed {
				select {
				case got <- st:
				default:
				}
			}
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	select {
	case st := <-got:
		if st.State != StateFinished {
			t.Fatalf("finished report %+v", st)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no finished report while the unit closes its connections")
	}
	close(release)
	waitState(t, l, "full/s1", StateFinished)
}

// TestLoopReportsTheConfigItReflects: every status names the applied
// config it reflects (Status.ConfigFingerprint), so that `dmplan status
// --wait` never takes a finished copy of an earlier config for the new
// one: a restart-relevant change is running (then finished) under the new
// digest, a tuning change leaves a finished copy finished and reports the
// new digest at once, and a config error carries the digest of the config
// that failed.
func TestLoopReportsTheConfigItReflects(t *testing.T) {
	run := func(ctx context.Context, cfg job.Config, r job.Reporter) error {
		r.Report(job.Progress{Finished: true})
		return nil
	}
	var (
		mu      sync.Mutex
		reports []Status
	)
	ds := &desiredSet{}
	full := func(fp Fingerprint, cfp string) Desired {
		d := desired("full", "s1", spec.StageRunning, job.ModeFull, fp)
		d.ConfigFingerprint = cfp
		return d
	}
	ds.set(full(fpA, "c1"))
	l := NewLoop(LoopConfig{
		Desired: ds.read, Run: run, Resync: time.Hour,
		Report: func(st Status, changed bool) {
			if changed {
				mu.Lock()
				reports = append(reports, st)
				mu.Unlock()
			}
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	// reported waits for a changed report of stage and digest, and returns
	// the reports since the last call.
	seen := 0
	reported := func(stage spec.Stage, cfp string) []Status {
		t.Helper()
		var got []Status
		waitFor(t, string(stage)+" reported under "+cfp, func() bool {
			mu.Lock()
			defer mu.Unlock()
			for i := seen; i < len(reports); i++ {
				if reports[i].Stage == stage && reports[i].ConfigFingerprint == cfp {
					got = append([]Status(nil), reports[seen:i+1]...)
					seen = i + 1
					return true
				}
			}
			return false
		})
		return got
	}
	reported(StageFinished, "c1")

	// A restart-relevant change: running under c2 before finished under c2.
	ds.set(full(fpB, "c2"))
	l.Wake()
	for _, st := range reported(StageFinished, "c2") {
		if st.ConfigFingerprint == "c2" {
			if st.Stage != spec.StageRunning {
				t.Fatalf("after a restart-relevant change, first report under c2 %+v; want running", st)
			}
			break
		}
	}

	// A tuning change: still finished, now under c3, without a new run.
	d := full(fpB, "c3")
	d.Fingerprint.Tuning = "t9"
	ds.set(d)
	l.Wake()
	for _, st := range reported(StageFinished, "c3") {
		if st.ConfigFingerprint == "c3" && st.Stage != StageFinished {
			t.Fatalf("a tuning change ran the finished copy again: %+v", st)
		}
	}

	// A config the agent cannot build: error under its digest.
	bad := full(fpB, "c4")
	bad.Err = "agent x has no $PW in its environment"
	ds.set(bad)
	l.Wake()
	if st := reported(StageError, "c4"); st[len(st)-1].Error != bad.Err {
		t.Fatalf("error report %+v", st[len(st)-1])
	}
}
