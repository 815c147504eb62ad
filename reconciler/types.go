package reconciler

import (
	"github.com/dmplan/dmplan/internal/effect"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
	"github.com/dmplan/dmplan/units/job"
)

// Observed stages beyond the desired ones (spec.StageRunning, StagePaused,
// StageStopped) that an agent reports.
const (
	// StageFinished: a mode "full" subtask whose dump and load are done.
	StageFinished spec.Stage = "finished"
	// StageError: the subtask stopped on a permanent error (or a config
	// the agent cannot build); it stays so until its config or desired
	// stage changes.
	StageError spec.Stage = "error"
)

// State is what a subtask is doing on this agent, as the loop tracks it.
type State string

const (
	StateRunning  State = "running"  // a unit is running
	StateRetrying State = "retrying" // the unit failed transiently; it restarts after a backoff
	StatePaused   State = "paused"   // not running, desired stage paused
	StateStopped  State = "stopped"  // not running, desired stage stopped
	StateFinished State = "finished" // mode full, dump and load done
	StateError    State = "error"    // permanent error; waits for a change
	// StatePinning: desired paused or stopped, and the subtask's start
	// position is being recorded (units.Pin); its observed stage is the
	// desired one.
	StatePinning State = "pinning"
)

// Active reports whether a unit runs (or is about to run again) in this
// state: stopping such a subtask means cancelling its unit.
func (s State) Active() bool { return s == StateRunning || s == StateRetrying }

// Stage is the observed stage an agent reports for the state. A unit
// retrying after a transient error is still "running" (its status carries
// the error).
func (s State) Stage() spec.Stage {
	switch s {
	case StateRunning, StateRetrying:
		return spec.StageRunning
	case StatePaused:
		return spec.StagePaused
	case StateStopped:
		return spec.StageStopped
	case StateFinished:
		return StageFinished
	case StateError:
		return StageError
	}
	return ""
}

// Fingerprint is a subtask's config reduced to one digest per effect
// (effect.FingerprintOf over planner.EffectConfig): Decide compares two
// with effect.Between, the rule the plan's impact lines follow.
type Fingerprint = effect.Fingerprint

// Desired is one subtask this agent should serve.
type Desired struct {
	ID    planner.SubtaskID
	Stage spec.Stage // running, paused or stopped
	// Config is what the units get, passwords resolved. It is never
	// logged or reported.
	Config      job.Config
	Fingerprint Fingerprint
	// ConfigFingerprint is the digest of the config as applied
	// (planner.ConfigFingerprint): the loop reports it in Status once it
	// has acted on this config, so that a reader of the applied state
	// can tell a status of it from one of an earlier config. It may
	// differ from Fingerprint's digest (which sees password digests in
	// the agent's current form) and is never compared by Decide.
	ConfigFingerprint string
	// Err, when set, says why the config could not be built (e.g. the
	// agent's password variable differs from the applied one): the
	// subtask goes to stage error with this message. It never holds a
	// password.
	Err string
}

// Observed is one subtask as the loop holds it.
type Observed struct {
	ID          planner.SubtaskID
	State       State
	Fingerprint Fingerprint // of the config the unit runs (or last ran) with
	// RetryDue: State is StateRetrying and its backoff has elapsed.
	RetryDue bool
	Err      string // the error that put it in StateError (or the last transient one)
	// Pinned is the pinKey of the config whose start
	// position this loop recorded (units.Pin) while the subtask was idle;
	// "" when it has not. PinFailed is that of a config whose pin failed
	// with a permanent error (Err says why); PinWait: a pin failed
	// transiently and its backoff has not elapsed.
	Pinned    string
	PinFailed string
	PinWait   bool
}

// Kind is what an action does.
type Kind string

const (
	// Start a unit (it resumes from its checkpoint in the target).
	Start Kind = "start"
	// Stop the unit, if one runs, and record Action.Stage (paused or
	// stopped). The checkpoint stays in the target.
	Stop Kind = "stop"
	// Restart the unit with a new config: stop, then start from the
	// checkpoint. Units take their config when they start, so tuning
	// (sync workers/batch, dump threads) is applied this way too.
	Restart Kind = "restart"
	// Fail stops the unit, if one runs, and records stage error with
	// Action.Reason.
	Fail Kind = "fail"
	// Forget stops the unit, if one runs, and drops the subtask and its
	// status: it is no longer this agent's to run.
	Forget Kind = "forget"
	// Pin records where an idle (paused or stopped) subtask of mode
	// incremental will start, without running it (units.Pin): the first
	// sync checkpoint, so that changes made while it is idle are
	// replicated when it resumes. Action.Stage is the idle stage.
	Pin Kind = "pin"
	// Noop: the subtask is as it should be.
	Noop Kind = "noop"
)

// Action is one step of a reconcile.
type Action struct {
	Kind   Kind              `json:"kind"`
	ID     planner.SubtaskID `json:"id"`
	Stage  spec.Stage        `json:"stage,omitempty"` // Stop, Pin: the stage it ends in
	Reason string            `json:"reason"`
}

// pinKey identifies what an idle subtask's start was pinned for: a change
// of either part (a new spec.start, mode, or source endpoint) pins again.
func pinKey(fp Fingerprint) string { return fp.Fresh + "/" + fp.Restart }
