package statusview

import (
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
)

// Fingerprints returns, for every subtask of taskFilter ("": of every
// task), the digest of its config as applied in snap
// (planner.ConfigFingerprint): what an agent's status of it carries once
// the agent has taken that config. It derives the selected task's
// subtasks only.
func Fingerprints(snap *store.Snapshot, taskFilter string) map[planner.SubtaskID]string {
	out := map[planner.SubtaskID]string{}
	for name, t := range snap.State.Tasks {
		if taskFilter != "" && name != taskFilter {
			continue
		}
		for _, src := range t.Sources {
			id := planner.SubtaskID{Task: name, Source: src}
			s, ok := snap.State.Sources[src]
			if !ok {
				continue // a dangling member: Build shows the row, nobody runs it
			}
			out[id] = planner.ConfigFingerprint(planner.SubtaskOf(t, src), &s)
		}
	}
	return out
}

// Expect marks the subtasks whose status reflects another config than
// the applied one (want, from Fingerprints) as stale and not in sync, with
// a note that says so: after an apply, an agent's status says "finished"
// or "running" for the earlier config until the agent has taken the new
// one. A status without a fingerprint (an agent older than the field) is
// stale too: nothing says which config it reflects. A subtask nobody
// reports is left as Build judged it.
func (v *View) Expect(want map[planner.SubtaskID]string) {
	for i := range v.Subtasks {
		s := &v.Subtasks[i]
		fp, ok := want[planner.SubtaskID{Task: s.Task, Source: s.Source}]
		if !ok || s.Stage == "" || s.ConfigFingerprint == fp {
			continue
		}
		s.Stale, s.InSync = true, false
		note := "reports an earlier config: " + s.Worker + " has not taken the last apply yet"
		if s.ConfigFingerprint == "" {
			note = "reported by an agent that does not say which config it runs (older than this dmplan): upgrade it"
		}
		if s.Note != "" {
			note += "; " + s.Note
		}
		s.Note = note
	}
}

// WaitState is what `dmplan status --wait` makes of a view.
type WaitState int

const (
	// Waiting: some subtask is not in sync yet.
	Waiting WaitState = iota
	// Done: every subtask is in sync.
	Done
	// Failed: a subtask is in stage error for the applied config; it
	// stays so until its config or stage changes.
	Failed
)

// Wait judges a view for `dmplan status --wait` (after Expect): Failed,
// with the failed subtasks, when a subtask reports stage error and is not
// stale; Done when every subtask is in sync and every mode full subtask
// asked to run has finished its copy (InSync counts it running); otherwise
// Waiting, with the subtasks not there yet.
func (v View) Wait() (WaitState, []Subtask) {
	var failed, out []Subtask
	for _, s := range v.Subtasks {
		switch {
		case s.Stage == StageError && !s.Stale:
			failed = append(failed, s)
		case !s.InSync:
			out = append(out, s)
		case s.Mode == spec.ModeFull && s.DesiredStage == spec.StageRunning && s.Stage != StageFinished:
			out = append(out, s)
		}
	}
	switch {
	case len(failed) > 0:
		return Failed, failed
	case len(out) > 0:
		return Waiting, out
	}
	return Done, nil
}
