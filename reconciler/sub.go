package reconciler

import (
	"context"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
	"github.com/dmplan/dmplan/units/job"
)

// Status is what the loop reports about one subtask.
type Status struct {
	ID       planner.SubtaskID
	Stage    spec.Stage // observed: running, paused, stopped, finished, error
	State    State
	Progress job.Progress
	// Error is the permanent error (stage error) or the last transient
	// one (stage running, retrying). Units redact their errors; the loop
	// adds no secret.
	Error    string
	Restarts int // starts after the first one
	// ConfigFingerprint is the Desired.ConfigFingerprint of the config
	// the loop last acted on for this subtask (started, pinned, stopped,
	// failed, or found already as it should be): the config this status
	// reflects. "" before the first action.
	ConfigFingerprint string
}

// run is one execution of a subtask's unit.
type run struct {
	gen    int
	cancel context.CancelFunc
	done   chan struct{} // closed when RunFunc has returned
	err    error         // RunFunc's result, set before done is closed
	start  time.Time
	pin    string       // a pin (not a run): the pinKey it pins for
	pos    job.Position // a pin's result
}

// sub is a subtask as the loop tracks it. The loop goroutine owns it; mu
// guards the fields the units' reporters and Statuses also read.
type sub struct {
	id planner.SubtaskID

	mu       sync.Mutex
	state    State
	fp       Fingerprint
	cfp      string // the Desired.ConfigFingerprint this state reflects (Status.ConfigFingerprint)
	mode     job.Mode
	err      string
	progress job.Progress
	restarts int
	starts   int
	gen      int
	run      *run // nil when no unit runs
	stopping bool // cancelled by the loop: its exit is not a failure
	// forgotten: no longer this agent's, but its unit outlived the stop
	// bound; reap forgets it when the unit returns.
	forgotten bool

	attempt int                         // consecutive transient failures
	backoff *backoff.ExponentialBackOff // their delays (retry.New), new with each series
	retryAt time.Time                   // StateRetrying: when to start again

	idle       State     // StatePinning: the idle state it ends in
	pinned     string    // pinKey whose start was recorded (Observed.Pinned)
	pinFailed  string    // pinKey whose pin failed for good
	pinAttempt int       // consecutive transient pin failures
	pinRetryAt time.Time // when a failed pin may run again (zero: no wait)
}

func (s *sub) statusLocked() Status {
	stage := s.state.Stage()
	if s.state == StatePinning {
		stage = s.idle.Stage()
	}
	return Status{ID: s.id, Stage: stage, State: s.state, Progress: s.progress, Error: s.err, Restarts: s.restarts,
		ConfigFingerprint: s.cfp}
}

func (s *sub) status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statusLocked()
}

func (s *sub) observed(now time.Time) Observed {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Observed{
		ID: s.id, State: s.state, Fingerprint: s.fp, Err: s.err,
		RetryDue: s.state == StateRetrying && !now.Before(s.retryAt),
		Pinned:   s.pinned, PinFailed: s.pinFailed,
		PinWait: !s.pinRetryAt.IsZero() && now.Before(s.pinRetryAt),
	}
}

// busy reports whether a unit the loop cancelled has not returned yet.
func (s *sub) busy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.run != nil && s.stopping
}

// exited reports whether the current run has returned.
func (s *sub) exited() (*run, bool) {
	s.mu.Lock()
	r := s.run
	s.mu.Unlock()
	if r == nil {
		return nil, false
	}
	select {
	case <-r.done:
		return r, true
	default:
		return r, false
	}
}
