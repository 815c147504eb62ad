package reconciler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/dmplan/dmplan/internal/retry"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
	"github.com/dmplan/dmplan/units/job"
)

// Defaults for LoopConfig fields left zero.
const (
	DefaultResync     = 10 * time.Second
	DefaultBackoffMin = time.Second
	DefaultBackoffMax = 30 * time.Second
	// DefaultDesiredRetry is how soon a failed read of the desired state
	// is tried again (units keep running meanwhile).
	DefaultDesiredRetry = time.Second
	// DefaultStopBound is how long the loop waits for cancelled units
	// before it goes on without them (docs/agent.md, "Stopping").
	DefaultStopBound = 10 * time.Second
)

// LoopConfig wires a Loop to its agent.
type LoopConfig struct {
	// Desired reads what this agent should run now. An error leaves the
	// running units alone; the read is retried.
	Desired func(ctx context.Context) ([]Desired, error)
	// Run runs one subtask's units until ctx ends (units.Run, or a
	// simulation for benchmarks).
	Run job.RunFunc
	// Pin records where an idle subtask of mode incremental starts
	// (units.Pin) and returns that position. Nil: idle subtasks are only
	// marked paused or stopped (simulations).
	Pin func(ctx context.Context, cfg job.Config) (job.Position, error)
	// Report receives a subtask's status when its state changes
	// (stateChanged) or its unit reports progress. It is called from the
	// loop and from the units' goroutines: it must be fast and safe for
	// concurrent use. Optional.
	Report func(st Status, stateChanged bool)
	// Forget is called when a subtask is no longer this agent's (its
	// unit has stopped). Optional.
	Forget func(id planner.SubtaskID)
	// Observe is called after every reconcile with its actions (or the
	// error that prevented it), for metrics. Optional.
	Observe func(actions []Action, err error)

	Log        *slog.Logger
	Clock      Clock
	Resync     time.Duration // periodic wake-up; default DefaultResync
	BackoffMin time.Duration // first retry delay after a transient error
	BackoffMax time.Duration // longest retry delay
	// StopBound is how long one reconcile waits for the units it
	// cancelled; a unit that has not returned by then (its source or
	// target hangs) is left to finish on its own while the loop serves
	// the other subtasks, and is not started again before it has.
	// Default DefaultStopBound.
	StopBound time.Duration
}

// Loop runs the units of one agent, level-based. Create it with NewLoop,
// run it with Run, wake it with Wake.
type Loop struct {
	cfg  LoopConfig
	wake chan struct{}

	mu   sync.Mutex // guards subs against Statuses; the loop alone writes
	subs map[planner.SubtaskID]*sub
}

// NewLoop returns a loop; zero fields of cfg get their defaults.
func NewLoop(cfg LoopConfig) *Loop {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultResync
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = DefaultBackoffMin
	}
	if cfg.StopBound <= 0 {
		cfg.StopBound = DefaultStopBound
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = max(DefaultBackoffMax, cfg.BackoffMin)
	}
	if cfg.Report == nil {
		cfg.Report = func(Status, bool) {}
	}
	if cfg.Forget == nil {
		cfg.Forget = func(planner.SubtaskID) {}
	}
	if cfg.Observe == nil {
		cfg.Observe = func([]Action, error) {}
	}
	return &Loop{cfg: cfg, wake: make(chan struct{}, 1), subs: map[planner.SubtaskID]*sub{}}
}

// Wake asks the loop to reconcile soon. It never blocks; wake-ups that
// arrive while one is pending are merged.
func (l *Loop) Wake() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Statuses returns the status of every subtask the loop holds, sorted.
func (l *Loop) Statuses() []Status {
	l.mu.Lock()
	subs := make([]*sub, 0, len(l.subs))
	for _, s := range l.subs {
		subs = append(subs, s)
	}
	l.mu.Unlock()
	out := make([]Status, len(subs))
	for i, s := range subs {
		out[i] = s.status()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID.String() < out[j].ID.String() })
	return out
}

// Run reconciles until ctx ends. Every unit runs under a context derived
// from ctx, so ending ctx stops all of them at once; Run returns when they
// have all returned.
func (l *Loop) Run(ctx context.Context) error {
	defer l.waitAll()
	for {
		wait := l.reconcile(ctx)
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-l.wake:
		case <-l.cfg.Clock.After(wait):
		}
	}
}

// reconcile does one pass and returns how long to wait before the next
// one at the latest.
func (l *Loop) reconcile(ctx context.Context) time.Duration {
	l.reap()
	desired, err := l.cfg.Desired(ctx)
	if err != nil {
		if ctx.Err() == nil {
			l.cfg.Log.Warn("read desired state; units keep running, retrying", "err", err)
		}
		l.cfg.Observe(nil, err)
		return DefaultDesiredRetry
	}
	now := l.cfg.Clock.Now()
	observed := make([]Observed, 0, len(l.subs))
	for _, s := range l.subs {
		observed = append(observed, s.observed(now))
	}
	actions := Decide(desired, observed)
	l.execute(ctx, actions, desired)
	l.cfg.Observe(actions, nil)
	return l.nextWait()
}

// nextWait is the time until the earliest retry, capped by the resync
// period.
func (l *Loop) nextWait() time.Duration {
	wait := l.cfg.Resync
	now := l.cfg.Clock.Now()
	for _, s := range l.subs {
		s.mu.Lock()
		if s.state == StateRetrying {
			wait = min(wait, max(s.retryAt.Sub(now), time.Millisecond))
		}
		if !s.pinRetryAt.IsZero() {
			wait = min(wait, max(s.pinRetryAt.Sub(now), time.Millisecond))
		}
		s.mu.Unlock()
	}
	return wait
}

// reap records the outcome of units that returned by themselves.
func (l *Loop) reap() {
	for _, s := range l.subs {
		r, done := s.exited()
		if !done {
			continue
		}
		s.mu.Lock()
		s.run = nil
		if s.forgotten { // its unit outlived the stop bound; now it has returned
			s.mu.Unlock()
			l.mu.Lock()
			delete(l.subs, s.id)
			l.mu.Unlock()
			l.cfg.Forget(s.id)
			continue
		}
		if s.stopping { // cancelled by the loop; execute sets the state
			s.mu.Unlock()
			continue
		}
		if r.pin != "" {
			l.classifyPin(s, r)
		} else {
			l.classify(s, r)
		}
		st := s.statusLocked()
		s.mu.Unlock()
		l.cfg.Report(st, true)
	}
}

// classify sets the state of a sub whose unit returned on its own. s.mu
// is held.
func (l *Loop) classify(s *sub, r *run) {
	log := l.cfg.Log.With("subtask", s.id.String())
	switch {
	case r.err == nil && s.mode == job.ModeFull:
		s.state, s.err, s.attempt = StateFinished, "", 0
		log.Info("full copy finished")
	case errors.Is(r.err, job.ErrPermanent):
		s.state, s.err, s.attempt = StateError, r.err.Error(), 0
		log.Error("unit stopped on a permanent error; waiting for a change of config or stage", "err", r.err)
	default:
		err := r.err
		if err == nil {
			err = errors.New("unit returned without an error before it was stopped")
		}
		if l.cfg.Clock.Now().Sub(r.start) > 2*l.cfg.BackoffMax {
			s.attempt = 0 // it had been healthy for a while
		}
		if s.attempt == 0 || s.backoff == nil {
			s.backoff = retry.New(l.cfg.BackoffMin, l.cfg.BackoffMax) // the first failure of a series
		}
		s.attempt++
		delay := s.backoff.NextBackOff()
		s.state, s.err = StateRetrying, err.Error()
		s.retryAt = l.cfg.Clock.Now().Add(delay)
		log.Warn("unit failed; retrying", "err", err, "attempt", s.attempt, "in", delay)
	}
}

// classifyPin sets the state of a sub whose pin returned: the idle stage
// it was pinned in, with the position it starts from, or the error (a
// transient one is retried after a backoff). s.mu is held.
func (l *Loop) classifyPin(s *sub, r *run) {
	log := l.cfg.Log.With("subtask", s.id.String())
	s.state = s.idle
	switch {
	case r.err == nil:
		s.pinned, s.pinFailed, s.pinAttempt, s.err = r.pin, "", 0, ""
		s.progress = job.Progress{Position: r.pos}
		log.Info("start position recorded; the subtask stays "+string(s.idle), "at", describePosition(r.pos))
	case errors.Is(r.err, job.ErrPermanent):
		s.pinFailed, s.pinAttempt, s.err = r.pin, 0, r.err.Error()
		log.Error("could not record where sync starts; waiting for a change of config", "err", r.err)
	default:
		s.pinAttempt++
		delay := min(l.cfg.BackoffMin<<min(s.pinAttempt-1, 20), l.cfg.BackoffMax)
		s.pinRetryAt, s.err = l.cfg.Clock.Now().Add(delay), r.err.Error()
		log.Warn("could not record where sync starts; retrying", "err", r.err, "in", delay)
	}
}

func describePosition(p job.Position) string {
	switch {
	case p.File != "" && p.GTID != "":
		return fmt.Sprintf("%s:%d (gtid %s)", p.File, p.Pos, p.GTID)
	case p.File != "":
		return fmt.Sprintf("%s:%d", p.File, p.Pos)
	case p.GTID != "":
		return "gtid " + p.GTID
	}
	return "(none: the mode starts from its dump)"
}

// execute carries out the actions: first every unit that must stop is
// cancelled at once, then the loop waits for them, then it records the new
// states and starts what must start.
func (l *Loop) execute(ctx context.Context, actions []Action, desired []Desired) {
	want := make(map[planner.SubtaskID]Desired, len(desired))
	for _, d := range desired {
		want[d.ID] = d
	}
	var stopping []*sub
	for _, a := range actions {
		switch a.Kind {
		case Stop, Restart, Fail, Forget:
			if s := l.subs[a.ID]; s != nil && l.cancel(s) {
				stopping = append(stopping, s)
			}
		}
	}
	l.waitStopped(stopping)
	for _, a := range actions {
		if a.Kind == Noop {
			l.settle(a.ID, want[a.ID])
			continue
		}
		if s := l.subs[a.ID]; s != nil && s.busy() {
			// Its unit has not returned within the stop bound: record
			// what can be recorded, start nothing; it is picked up again
			// when the unit returns (which wakes the loop).
			switch a.Kind {
			case Start, Restart:
				l.cfg.Log.Warn("unit has not stopped yet (its source or target does not answer); it starts again once it has",
					"subtask", a.ID.String(), "action", string(a.Kind))
				continue
			case Forget:
				s.mu.Lock()
				s.forgotten = true
				s.mu.Unlock()
				continue
			}
		}
		log := l.cfg.Log.With("subtask", a.ID.String())
		if a.Kind == Start && l.subs[a.ID] != nil && l.subs[a.ID].state == StateRetrying {
			log.Debug(string(a.Kind), "reason", a.Reason)
		} else {
			log.Info(string(a.Kind), "reason", a.Reason)
		}
		switch a.Kind {
		case Start, Restart:
			if ctx.Err() == nil {
				l.start(ctx, l.sub(a.ID), want[a.ID])
			}
		case Stop:
			l.setIdle(l.sub(a.ID), idleState(a.Stage), "", Fingerprint{}, want[a.ID].ConfigFingerprint)
		case Pin:
			if ctx.Err() == nil {
				l.pin(ctx, l.sub(a.ID), want[a.ID], idleState(a.Stage))
			}
		case Fail:
			// A zero fingerprint: once the config can be built again,
			// Decide sees a change and starts the subtask.
			l.setIdle(l.sub(a.ID), StateError, a.Reason, Fingerprint{}, want[a.ID].ConfigFingerprint)
		case Forget:
			l.mu.Lock()
			delete(l.subs, a.ID)
			l.mu.Unlock()
			l.cfg.Forget(a.ID)
		}
	}
}

// sub returns the tracked subtask, creating it.
func (l *Loop) sub(id planner.SubtaskID) *sub {
	if s := l.subs[id]; s != nil {
		return s
	}
	s := &sub{id: id}
	l.mu.Lock()
	l.subs[id] = s
	l.mu.Unlock()
	return s
}

// cancel cancels the sub's unit, if one runs and was not cancelled
// before, and reports whether the caller must wait for it. A unit
// cancelled by an earlier reconcile that has not returned yet is not
// waited for again.
func (l *Loop) cancel(s *sub) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run == nil || s.stopping {
		return false
	}
	s.stopping = true
	s.run.cancel()
	return true
}

// waitStopped waits for cancelled units to return, all of them within
// one StopBound; those that have not returned by then are left running
// (cancelled, busy) and logged.
func (l *Loop) waitStopped(subs []*sub) {
	if len(subs) == 0 {
		return
	}
	deadline := l.cfg.Clock.After(l.cfg.StopBound)
	expired := false
	for _, s := range subs {
		s.mu.Lock()
		r := s.run
		s.mu.Unlock()
		if r == nil {
			continue
		}
		if !expired {
			select {
			case <-r.done:
			case <-deadline:
				expired = true
			}
		}
		select {
		case <-r.done:
			s.mu.Lock()
			s.run, s.stopping = nil, false
			s.mu.Unlock()
		default:
			l.cfg.Log.Error("unit did not stop within the stop bound; going on without it (it is started again once it returns)",
				"subtask", s.id.String(), "bound", l.cfg.StopBound)
		}
	}
}

func idleState(st spec.Stage) State {
	if st == spec.StageStopped {
		return StateStopped
	}
	return StatePaused
}

// settle records that Decide found the subtask as d asks (a Noop): its
// status now reflects d's config, which is reported when that is news (an
// apply changed nothing this state depends on, e.g. the tuning of a
// finished full copy). A subtask whose pin or cancelled unit has not
// returned keeps the config it acted on last.
func (l *Loop) settle(id planner.SubtaskID, d Desired) {
	s := l.subs[id]
	if s == nil {
		return
	}
	s.mu.Lock()
	if s.cfp == d.ConfigFingerprint || s.state == StatePinning || s.run != nil && s.stopping {
		s.mu.Unlock()
		return
	}
	s.cfp = d.ConfigFingerprint
	st := s.statusLocked()
	s.mu.Unlock()
	l.cfg.Report(st, true)
}

// setIdle records a state in which no unit runs, reflecting the config of
// digest cfp. A zero fp keeps the current one.
func (l *Loop) setIdle(s *sub, state State, errMsg string, fp Fingerprint, cfp string) {
	s.mu.Lock()
	changed := s.state != state || s.err != errMsg || s.cfp != cfp
	s.cfp = cfp
	if s.state != state { // a new stage tries a failed pin again
		s.pinFailed, s.pinAttempt, s.pinRetryAt = "", 0, time.Time{}
	}
	s.state, s.attempt = state, 0
	if state == StateError {
		s.err, s.fp = errMsg, fp
	}
	st := s.statusLocked()
	s.mu.Unlock()
	if changed {
		l.cfg.Report(st, true)
	}
}

// start runs the sub's unit with d's config under a context derived from
// ctx.
func (l *Loop) start(ctx context.Context, s *sub, d Desired) {
	if l.cancel(s) { // never two runs of one subtask
		l.waitStopped([]*sub{s})
	}
	if s.busy() {
		return // its earlier run has not returned: started when it has
	}
	uctx, cancel := context.WithCancel(ctx)
	now := l.cfg.Clock.Now()
	s.mu.Lock()
	retry := s.state == StateRetrying && s.fp == d.Fingerprint
	if !retry {
		s.err, s.attempt = "", 0
	}
	if s.starts > 0 {
		s.restarts++
	}
	s.starts++
	s.gen++
	r := &run{gen: s.gen, cancel: cancel, done: make(chan struct{}), start: now}
	s.run, s.stopping = r, false
	s.state, s.fp, s.cfp, s.mode = StateRunning, d.Fingerprint, d.ConfigFingerprint, d.Config.Mode
	s.progress = job.Progress{}
	st := s.statusLocked()
	s.mu.Unlock()
	l.cfg.Report(st, true)

	rep := job.ReporterFunc(func(p job.Progress) {
		s.mu.Lock()
		if s.gen != r.gen {
			s.mu.Unlock()
			return
		}
		if p.Orphaned == nil { // a report without the list keeps the last one
			p.Orphaned = s.progress.Orphaned
		}
		s.progress = p
		st := s.statusLocked()
		// A full copy is done and recorded once the unit says so; it only
		// closes its connections before it returns. Report it at once.
		finished := p.Finished && s.mode == job.ModeFull
		if finished {
			st.Stage, st.State = StageFinished, StateFinished
		}
		s.mu.Unlock()
		l.cfg.Report(st, finished)
	})
	go func() {
		defer func() {
			if p := recover(); p != nil {
				r.err = job.Permanent(fmt.Errorf("unit of %s panicked: %v", d.ID, p))
			}
			cancel()
			close(r.done)
			l.Wake()
		}()
		r.err = l.cfg.Run(uctx, d.Config, rep)
	}()
}

// pin records the start position of an idle subtask in the background;
// the sub shows its idle stage meanwhile (StatePinning).
func (l *Loop) pin(ctx context.Context, s *sub, d Desired, idle State) {
	if l.cancel(s) {
		l.waitStopped([]*sub{s})
	}
	if s.busy() {
		return // its earlier run has not returned: pinned when it has
	}
	if l.cfg.Pin == nil {
		s.mu.Lock()
		s.pinned = pinKey(d.Fingerprint)
		s.mu.Unlock()
		l.setIdle(s, idle, "", Fingerprint{}, d.ConfigFingerprint)
		return
	}
	uctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	s.gen++
	r := &run{gen: s.gen, cancel: cancel, done: make(chan struct{}), start: l.cfg.Clock.Now(), pin: pinKey(d.Fingerprint)}
	s.run, s.stopping = r, false
	s.state, s.idle, s.fp, s.cfp, s.mode = StatePinning, idle, d.Fingerprint, d.ConfigFingerprint, d.Config.Mode
	s.pinRetryAt = time.Time{}
	st := s.statusLocked()
	s.mu.Unlock()
	l.cfg.Report(st, true)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				r.err = job.Permanent(fmt.Errorf("pin of %s panicked: %v", d.ID, p))
			}
			cancel()
			close(r.done)
			l.Wake()
		}()
		r.pos, r.err = l.cfg.Pin(uctx, d.Config)
	}()
}

// waitAll waits for every unit to return; Run's context has cancelled
// them all at once. It waits one StopBound at most: a unit whose source or
// target hangs is logged and left behind (the agent is exiting).
func (l *Loop) waitAll() {
	var subs []*sub
	for _, s := range l.subs {
		s.mu.Lock()
		if s.run != nil {
			s.run.cancel()
			s.stopping = true
			subs = append(subs, s)
		}
		s.mu.Unlock()
	}
	l.waitStopped(subs)
}
