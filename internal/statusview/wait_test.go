package statusview

import (
	"testing"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
)

// TestWait: what `dmplan status --wait` makes of one subtask's desired
// state and status, above all that a status of an earlier config (its
// fingerprint is not the applied config's) is never taken for done, nor
// its error for a failure of the new config.
func TestWait(t *testing.T) {
	ep := func(port int) spec.Endpoint { return spec.Endpoint{Host: "127.0.0.1", Port: port, User: "dmplan"} }
	snapOf := func(mode spec.Mode, stage spec.Stage, threads int, bound string) *store.Snapshot {
		return &store.Snapshot{
			State: planner.State{
				Sources: map[string]spec.Source{"s1": {Name: "s1", Endpoint: ep(3306)}},
				Tasks: map[string]spec.Task{"t": {Name: "t", Mode: mode, Stage: stage, Target: ep(4000),
					Sources: []string{"s1"}, Tables: []string{"shop.*"}, Dump: spec.DumpConfig{Threads: threads}}},
				Bounds: map[string]string{"s1": bound},
			},
			Workers: []planner.Worker{{Name: "a"}},
		}
	}
	id := planner.SubtaskID{Task: "t", Source: "s1"}
	// The digests of the config applied before (4 dump threads) and of
	// the one applied last (8): cur and old in the table stand for them.
	const old, cur = "old", "cur"
	fingerprint := func(mode spec.Mode, threads int) string {
		return Fingerprints(snapOf(mode, spec.StageRunning, threads, "a"), "t")[id]
	}
	if a, b := fingerprint(spec.ModeFull, 4), fingerprint(spec.ModeFull, 8); a == "" || a == b {
		t.Fatalf("fingerprints of two configs: %q and %q", a, b)
	}
	const none = "-" // no status
	for _, c := range []struct {
		name  string
		mode  spec.Mode
		stage spec.Stage // desired
		bound string
		seen  spec.Stage // observed; none: no status
		fp    string
		err   string
		want  WaitState
		stale bool
	}{
		{name: "full finished, applied config", mode: spec.ModeFull, seen: StageFinished, fp: cur, want: Done},
		{name: "full finished, earlier config", mode: spec.ModeFull, seen: StageFinished, fp: old, want: Waiting, stale: true},
		{name: "full finished, agent without fingerprints", mode: spec.ModeFull, seen: StageFinished, want: Waiting, stale: true},
		{name: "full running", mode: spec.ModeFull, seen: spec.StageRunning, fp: cur, want: Waiting},
		{name: "full running, retrying", mode: spec.ModeFull, seen: spec.StageRunning, fp: cur, err: "dial: refused (retrying in 4s)", want: Waiting},
		{name: "all running, applied config", mode: spec.ModeAll, seen: spec.StageRunning, fp: cur, want: Done},
		{name: "all running, earlier config", mode: spec.ModeAll, seen: spec.StageRunning, fp: old, want: Waiting, stale: true},
		{name: "error, applied config", mode: spec.ModeFull, seen: StageError, fp: cur, err: "table has no key", want: Failed},
		{name: "error, earlier config", mode: spec.ModeFull, seen: StageError, fp: old, err: "table has no key", want: Waiting, stale: true},
		{name: "not reported yet", mode: spec.ModeFull, seen: none, want: Waiting},
		{name: "no agent", mode: spec.ModeAll, bound: "gone", seen: none, want: Waiting},
		{name: "stopped, no agent", mode: spec.ModeAll, stage: spec.StageStopped, bound: "gone", seen: none, want: Done},
		{name: "paused, applied config", mode: spec.ModeAll, stage: spec.StagePaused, seen: spec.StagePaused, fp: cur, want: Done},
		{name: "full finished, paused since", mode: spec.ModeFull, stage: spec.StagePaused, seen: StageFinished, fp: cur, want: Done},
		{name: "paused asked, still running", mode: spec.ModeAll, stage: spec.StagePaused, seen: spec.StageRunning, fp: cur, want: Waiting},
	} {
		t.Run(c.name, func(t *testing.T) {
			stage, bound := c.stage, c.bound
			if stage == "" {
				stage = spec.StageRunning
			}
			if bound == "" {
				bound = "a"
			}
			snap := snapOf(c.mode, stage, 8, bound)
			fp := map[string]string{old: fingerprint(c.mode, 4), cur: fingerprint(c.mode, 8)}[c.fp]
			var sts []store.SubtaskStatus
			if c.seen != none {
				sts = append(sts, store.SubtaskStatus{Task: "t", Source: "s1", Worker: "a", Stage: c.seen, ConfigFingerprint: fp, Error: c.err})
			}
			v := Build(snap, sts, nil, "t")
			v.Expect(Fingerprints(snap, "t"))
			got, rows := v.Wait()
			if got != c.want || v.Subtasks[0].Stale != c.stale {
				t.Fatalf("Wait = %v, stale %v; want %v, stale %v (row %+v)", got, v.Subtasks[0].Stale, c.want, c.stale, v.Subtasks[0])
			}
			if got != Done && (len(rows) != 1 || rows[0].Source != "s1") {
				t.Fatalf("rows %+v: want the subtask", rows)
			}
			if c.stale && (v.Subtasks[0].InSync || v.Subtasks[0].Note == "") {
				t.Fatalf("a stale row in sync or without a note: %+v", v.Subtasks[0])
			}
		})
	}
}
