package reconciler

import (
	"github.com/dmplan/dmplan/internal/effect"
	"sort"

	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
	"github.com/dmplan/dmplan/units/job"
)

// Decide compares what should run on this agent with what runs and returns
// one action per subtask found in either, sorted by task and source. It is
// pure: the same inputs always give the same actions.
//
// The rules, per subtask:
//   - not desired here (task removed, source moved to another agent): forget;
//   - desired with a config error: fail (no-op when already failed with it);
//   - desired running: start when not running; restart when the config
//     changed (effect.Between of the fingerprints is not None); start
//     again when a transient error's backoff has elapsed; an error or a
//     finished full task waits for a config change (then starts);
//   - desired paused or stopped: stop when running or retrying, or when it
//     is in another idle stage (error, the other of paused/stopped, or
//     never seen); a finished full task stays finished. A subtask of mode
//     incremental whose start this loop has not recorded for its current
//     config is pinned (Pin) instead of merely stopped, whatever the idle
//     stage: a new subtask starts at the source's position when an agent
//     first takes it, not when it is resumed. A failed pin waits for its
//     backoff (transient) or for a config change (permanent).
func Decide(desired []Desired, observed []Observed) []Action {
	obs := make(map[planner.SubtaskID]Observed, len(observed))
	for _, o := range observed {
		obs[o.ID] = o
	}
	out := make([]Action, 0, len(desired)+len(observed))
	seen := make(map[planner.SubtaskID]bool, len(desired))
	for _, d := range desired {
		seen[d.ID] = true
		o, ok := obs[d.ID]
		out = append(out, decideOne(d, o, ok))
	}
	for _, o := range observed {
		if !seen[o.ID] {
			out = append(out, Action{Kind: Forget, ID: o.ID, Reason: "no longer assigned to this agent (task or source removed, or source bound elsewhere)"})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].ID, out[j].ID
		if a.Task != b.Task {
			return a.Task < b.Task
		}
		return a.Source < b.Source
	})
	return out
}

func decideOne(d Desired, o Observed, ok bool) Action {
	act := func(k Kind, reason string) Action { return Action{Kind: k, ID: d.ID, Reason: reason} }
	if d.Err != "" {
		if ok && o.State == StateError && o.Err == d.Err {
			return act(Noop, "in error: "+d.Err)
		}
		return act(Fail, d.Err)
	}
	switch d.Stage {
	case spec.StageRunning:
		return decideRunning(d, o, ok, act)
	case spec.StagePaused, spec.StageStopped:
		a := decideIdle(d, o, ok, act)
		if a.Kind == Stop || a.Kind == Pin {
			a.Stage = d.Stage
		}
		return a
	}
	return act(Fail, "unknown desired stage "+string(d.Stage))
}

func decideRunning(d Desired, o Observed, ok bool, act func(Kind, string) Action) Action {
	if !ok {
		return act(Start, "desired running, not running here")
	}
	eff := effect.Between(o.Fingerprint, d.Fingerprint)
	changed := eff != effect.None
	switch o.State {
	case StatePaused, StateStopped, StatePinning:
		return act(Start, "desired running, was "+string(o.State)+": resume from the checkpoint")
	case StateError:
		if changed {
			return act(Start, "config changed since the error: start again")
		}
		return act(Noop, "in error until its config or stage changes: "+o.Err)
	case StateFinished:
		if eff >= effect.Restart { // tuning leaves a finished copy finished
			return act(Start, "config changed after the full copy finished: start again")
		}
		return act(Noop, "finished")
	case StateRetrying:
		if changed {
			return act(Start, "config changed while waiting to retry: start with the new config")
		}
		if o.RetryDue {
			return act(Start, "retry after a transient error: "+o.Err)
		}
		return act(Noop, "waiting to retry after a transient error")
	case StateRunning:
		switch eff {
		case effect.Fresh:
			return act(Restart, "config changed so that the checkpoints no longer apply: restart; the units start over")
		case effect.Restart:
			return act(Restart, "config changed: restart from the checkpoint")
		case effect.Tuning:
			return act(Restart, "tuning changed (dump threads, sync workers or batch, validation): restart from the checkpoint to take it")
		}
		return act(Noop, "running")
	}
	return act(Start, "unknown observed state "+string(o.State))
}

func decideIdle(d Desired, o Observed, ok bool, act func(Kind, string) Action) Action {
	needPin := d.Config.Mode == job.ModeIncremental && (!ok || o.Pinned != pinKey(d.Fingerprint))
	if !ok {
		if needPin {
			return act(Pin, "desired "+string(d.Stage)+", new here: record where sync starts (the source's position now, or spec.start)")
		}
		return act(Stop, "desired "+string(d.Stage)+", never started here")
	}
	want := StatePaused
	if d.Stage == spec.StageStopped {
		want = StateStopped
	}
	switch o.State {
	case StatePinning:
		return act(Noop, "recording where sync starts")
	case want:
		switch {
		case !needPin:
			return act(Noop, string(want))
		case o.PinFailed == pinKey(d.Fingerprint):
			return act(Noop, "could not record where sync starts, until its config or stage changes: "+o.Err)
		case o.PinWait:
			return act(Noop, "waiting to retry recording where sync starts: "+o.Err)
		}
		return act(Pin, "desired "+string(d.Stage)+": record where sync starts for this config")
	case StateFinished:
		return act(Noop, "finished")
	case StateRunning, StateRetrying:
		return act(Stop, "desired "+string(d.Stage)+": stop the unit, keep the checkpoint")
	}
	return act(Stop, "desired "+string(d.Stage)+", was "+string(o.State))
}
