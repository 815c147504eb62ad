package reconciler

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/dmplan/dmplan/internal/effect"
	"github.com/dmplan/dmplan/internal/golden"

	"github.com/google/go-cmp/cmp"

	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
	"github.com/dmplan/dmplan/units/job"
)

func id(task, source string) planner.SubtaskID { return planner.SubtaskID{Task: task, Source: source} }

var (
	fpA  = Fingerprint{Fresh: "f1", Restart: "r1", Tuning: "t1"}
	fpA2 = Fingerprint{Fresh: "f1", Restart: "r1", Tuning: "t2"} // tuning changed
	fpB  = Fingerprint{Fresh: "f1", Restart: "r2", Tuning: "t1"} // restart-relevant change
	fpC  = Fingerprint{Fresh: "f2", Restart: "r1", Tuning: "t1"} // checkpoints no longer apply
)

func want(st spec.Stage, fp Fingerprint) Desired {
	return Desired{ID: id("shop", "mysql-01"), Stage: st, Fingerprint: fp}
}

// wantInc is a desired subtask of mode incremental (idle ones are pinned).
func wantInc(st spec.Stage, fp Fingerprint) Desired {
	d := want(st, fp)
	d.Config.Mode = job.ModeIncremental
	return d
}

func pinnedAt(s State, fp Fingerprint, pinned string) Observed {
	o := have(s, fp)
	o.Pinned = pinned
	return o
}

func have(s State, fp Fingerprint) Observed {
	return Observed{ID: id("shop", "mysql-01"), State: s, Fingerprint: fp}
}

type decideCase struct {
	name     string
	desired  []Desired
	observed []Observed
	want     []Kind
}

var decideCases = []decideCase{
	{"start-new", []Desired{want(spec.StageRunning, fpA)}, nil, []Kind{Start}},
	{"running-unchanged", []Desired{want(spec.StageRunning, fpA)}, []Observed{have(StateRunning, fpA)}, []Kind{Noop}},
	{"running-restart-change", []Desired{want(spec.StageRunning, fpB)}, []Observed{have(StateRunning, fpA)}, []Kind{Restart}},
	{"running-live-change", []Desired{want(spec.StageRunning, fpA2)}, []Observed{have(StateRunning, fpA)}, []Kind{Restart}},
	{"running-both-change", []Desired{want(spec.StageRunning, Fingerprint{Fresh: "f1", Restart: "r2", Tuning: "t2"})}, []Observed{have(StateRunning, fpA)}, []Kind{Restart}},
	{"running-fresh-change", []Desired{want(spec.StageRunning, fpC)}, []Observed{have(StateRunning, fpA)}, []Kind{Restart}},
	{"finished-tuning-change", []Desired{want(spec.StageRunning, fpA2)}, []Observed{have(StateFinished, fpA)}, []Kind{Noop}},
	{"finished-restart-change", []Desired{want(spec.StageRunning, fpB)}, []Observed{have(StateFinished, fpA)}, []Kind{Start}},
	{"pause-running", []Desired{want(spec.StagePaused, fpA)}, []Observed{have(StateRunning, fpA)}, []Kind{Stop}},
	{"stop-running", []Desired{want(spec.StageStopped, fpA)}, []Observed{have(StateRunning, fpA)}, []Kind{Stop}},
	{"paused-stays", []Desired{want(spec.StagePaused, fpA)}, []Observed{have(StatePaused, fpA)}, []Kind{Noop}},
	{"paused-to-stopped", []Desired{want(spec.StageStopped, fpA)}, []Observed{have(StatePaused, fpA)}, []Kind{Stop}},
	{"created-paused", []Desired{want(spec.StagePaused, fpA)}, nil, []Kind{Stop}},
	{"created-paused-incremental", []Desired{wantInc(spec.StagePaused, fpA)}, nil, []Kind{Pin}},
	{"created-stopped-incremental", []Desired{wantInc(spec.StageStopped, fpA)}, nil, []Kind{Pin}},
	{"pinning-waits", []Desired{wantInc(spec.StagePaused, fpA)}, []Observed{have(StatePinning, fpA)}, []Kind{Noop}},
	{"pinning-resumed", []Desired{wantInc(spec.StageRunning, fpA)}, []Observed{have(StatePinning, fpA)}, []Kind{Start}},
	{"paused-pinned", []Desired{wantInc(spec.StagePaused, fpA)}, []Observed{pinnedAt(StatePaused, fpA, "f1/r1")}, []Kind{Noop}},
	{"paused-pinned-other-config", []Desired{wantInc(spec.StagePaused, fpB)}, []Observed{pinnedAt(StatePaused, fpA, "f1/r1")}, []Kind{Pin}},
	{"paused-pinned-new-start", []Desired{wantInc(spec.StagePaused, fpC)}, []Observed{pinnedAt(StatePaused, fpA, "f1/r1")}, []Kind{Pin}},
	{"paused-after-run-not-pinned", []Desired{wantInc(spec.StagePaused, fpA)}, []Observed{have(StatePaused, fpA)}, []Kind{Pin}},
	{"pin-failed-waits", []Desired{wantInc(spec.StagePaused, fpA)}, []Observed{{ID: id("shop", "mysql-01"), State: StatePaused, PinFailed: "f1/r1", Err: "binlog off"}}, []Kind{Noop}},
	{"pin-retry-not-due", []Desired{wantInc(spec.StageStopped, fpA)}, []Observed{{ID: id("shop", "mysql-01"), State: StateStopped, PinWait: true, Err: "connection refused"}}, []Kind{Noop}},
	{"pin-retry-due", []Desired{wantInc(spec.StageStopped, fpA)}, []Observed{{ID: id("shop", "mysql-01"), State: StateStopped, Err: "connection refused"}}, []Kind{Pin}},
	{"resume-paused", []Desired{want(spec.StageRunning, fpA)}, []Observed{have(StatePaused, fpA)}, []Kind{Start}},
	{"resume-stopped-new-config", []Desired{want(spec.StageRunning, fpB)}, []Observed{have(StateStopped, fpA)}, []Kind{Start}},
	{"error-waits", []Desired{want(spec.StageRunning, fpA)}, []Observed{{ID: id("shop", "mysql-01"), State: StateError, Fingerprint: fpA, Err: "binlog purged"}}, []Kind{Noop}},
	{"error-config-changed", []Desired{want(spec.StageRunning, fpB)}, []Observed{{ID: id("shop", "mysql-01"), State: StateError, Fingerprint: fpA, Err: "binlog purged"}}, []Kind{Start}},
	{"error-paused", []Desired{want(spec.StagePaused, fpA)}, []Observed{{ID: id("shop", "mysql-01"), State: StateError, Fingerprint: fpA, Err: "binlog purged"}}, []Kind{Stop}},
	{"retrying-not-due", []Desired{want(spec.StageRunning, fpA)}, []Observed{{ID: id("shop", "mysql-01"), State: StateRetrying, Fingerprint: fpA, Err: "connection refused"}}, []Kind{Noop}},
	{"retrying-due", []Desired{want(spec.StageRunning, fpA)}, []Observed{{ID: id("shop", "mysql-01"), State: StateRetrying, Fingerprint: fpA, RetryDue: true, Err: "connection refused"}}, []Kind{Start}},
	{"retrying-config-changed", []Desired{want(spec.StageRunning, fpA2)}, []Observed{{ID: id("shop", "mysql-01"), State: StateRetrying, Fingerprint: fpA}}, []Kind{Start}},
	{"retrying-paused", []Desired{want(spec.StagePaused, fpA)}, []Observed{{ID: id("shop", "mysql-01"), State: StateRetrying, Fingerprint: fpA}}, []Kind{Stop}},
	{"finished-stays", []Desired{want(spec.StageRunning, fpA)}, []Observed{have(StateFinished, fpA)}, []Kind{Noop}},
	{"finished-tuning-ignored", []Desired{want(spec.StageRunning, fpA2)}, []Observed{have(StateFinished, fpA)}, []Kind{Noop}},
	{"finished-config-changed", []Desired{want(spec.StageRunning, fpB)}, []Observed{have(StateFinished, fpA)}, []Kind{Start}},
	{"finished-paused", []Desired{want(spec.StagePaused, fpA)}, []Observed{have(StateFinished, fpA)}, []Kind{Noop}},
	{"removed-running", nil, []Observed{have(StateRunning, fpA)}, []Kind{Forget}},
	{"removed-paused", nil, []Observed{have(StatePaused, fpA)}, []Kind{Forget}},
	{"password-mismatch", []Desired{{ID: id("shop", "mysql-01"), Stage: spec.StageRunning, Fingerprint: fpA,
		Err: `agent a's $SOURCE_PASSWORD differs from the applied password`}}, []Observed{have(StateRunning, fpA)}, []Kind{Fail}},
	{"password-mismatch-already-failed", []Desired{{ID: id("shop", "mysql-01"), Stage: spec.StageRunning, Fingerprint: fpA,
		Err: `agent a's $SOURCE_PASSWORD differs from the applied password`}},
		[]Observed{{ID: id("shop", "mysql-01"), State: StateError, Err: `agent a's $SOURCE_PASSWORD differs from the applied password`}}, []Kind{Noop}},
	{"password-fixed", []Desired{want(spec.StageRunning, fpA)},
		[]Observed{{ID: id("shop", "mysql-01"), State: StateError, Err: `agent a's $SOURCE_PASSWORD differs from the applied password`}}, []Kind{Start}},
	{"mixed-sorted", []Desired{
		{ID: id("shop", "mysql-02"), Stage: spec.StageRunning, Fingerprint: fpA},
		{ID: id("billing", "mysql-01"), Stage: spec.StagePaused, Fingerprint: fpA},
		{ID: id("shop", "mysql-01"), Stage: spec.StageRunning, Fingerprint: fpA2},
	}, []Observed{
		{ID: id("shop", "mysql-01"), State: StateRunning, Fingerprint: fpA},
		{ID: id("billing", "mysql-01"), State: StateRunning, Fingerprint: fpA},
		{ID: id("audit", "mysql-03"), State: StateRunning, Fingerprint: fpA},
	}, []Kind{Forget, Stop, Restart, Start}},
}

func TestDecide(t *testing.T) {
	var out bytes.Buffer
	for _, c := range decideCases {
		got := Decide(c.desired, c.observed)
		var kinds []Kind
		for _, a := range got {
			kinds = append(kinds, a.Kind)
		}
		if !slices.Equal(kinds, c.want) {
			t.Errorf("%s: kinds = %v, want %v\n%+v", c.name, kinds, c.want, got)
		}
		// Pure: the same inputs give the same output, whatever the order.
		rev := slices.Clone(c.observed)
		slices.Reverse(rev)
		drev := slices.Clone(c.desired)
		slices.Reverse(drev)
		if again := Decide(drev, rev); !cmp.Equal(again, got) {
			t.Errorf("%s: not deterministic:\n%s", c.name, cmp.Diff(got, again))
		}
		writeCase(&out, c, got)
	}
	golden.Check(t, "reconciler/decide.txt", out.Bytes())
}

func writeCase(w *bytes.Buffer, c decideCase, got []Action) {
	fmt.Fprintf(w, "== %s\ndesired:\n", c.name)
	if len(c.desired) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, d := range c.desired {
		fmt.Fprintf(w, "  %s stage=%s fresh=%s restart=%s tuning=%s", d.ID, d.Stage, d.Fingerprint.Fresh, d.Fingerprint.Restart, d.Fingerprint.Tuning)
		if d.Config.Mode != "" {
			fmt.Fprintf(w, " mode=%s", d.Config.Mode)
		}
		if d.Err != "" {
			fmt.Fprintf(w, " err=%q", d.Err)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "observed:")
	if len(c.observed) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, o := range c.observed {
		fmt.Fprintf(w, "  %s state=%s fresh=%s restart=%s tuning=%s", o.ID, o.State, o.Fingerprint.Fresh, o.Fingerprint.Restart, o.Fingerprint.Tuning)
		if o.RetryDue {
			fmt.Fprint(w, " retry-due")
		}
		if o.Pinned != "" {
			fmt.Fprintf(w, " pinned=%s", o.Pinned)
		}
		if o.PinFailed != "" {
			fmt.Fprintf(w, " pin-failed=%s", o.PinFailed)
		}
		if o.PinWait {
			fmt.Fprint(w, " pin-wait")
		}
		if o.Err != "" {
			fmt.Fprintf(w, " err=%q", o.Err)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "actions:")
	for _, a := range got {
		fmt.Fprintf(w, "  %s %s", a.Kind, a.ID)
		if a.Stage != "" {
			fmt.Fprintf(w, " -> %s", a.Stage)
		}
		fmt.Fprintf(w, ": %s\n", a.Reason)
	}
	fmt.Fprintln(w)
}

// TestFingerprints: the agent's fingerprints (planner.EffectConfig of the
// applied subtask and its source) decide what effect.Of decides.
func TestFingerprints(t *testing.T) {
	src := spec.Source{Name: "mysql-01", Endpoint: spec.Endpoint{Host: "127.0.0.1", Port: 3306, User: "u",
		Password: spec.Secret{Ref: "SOURCE_PASSWORD", Digest: "d1"}}}
	sub := planner.Subtask{Task: "shop", Source: "mysql-01", Mode: spec.ModeAll,
		Target: spec.Endpoint{Host: "127.0.0.1", Port: 4000, User: "root"},
		Tables: []string{"shop.*"}, Dump: spec.DumpConfig{Threads: 4}, Sync: spec.SyncConfig{Workers: 8, Batch: 100}}
	fp := func(sub planner.Subtask, src spec.Source) Fingerprint {
		return effect.FingerprintOf(planner.EffectConfig(sub, &src))
	}
	base := fp(sub, src)
	decide := func(to Fingerprint) Kind {
		return Decide([]Desired{{ID: id("shop", "mysql-01"), Stage: spec.StageRunning, Fingerprint: to}},
			[]Observed{{ID: id("shop", "mysql-01"), State: StateRunning, Fingerprint: base}})[0].Kind
	}
	tuned := sub
	tuned.Sync.Batch = 200
	if got := effect.Between(base, fp(tuned, src)); got != effect.Tuning {
		t.Errorf("sync batch change: %v, want tuning", got)
	}
	if k := decide(fp(tuned, src)); k != Restart {
		t.Errorf("sync batch change decides %v, want restart (units take their config when they start)", k)
	}
	rotated := src
	rotated.Password.Digest = "d2"
	if got := effect.Between(base, fp(sub, rotated)); got != effect.Restart {
		t.Errorf("a rotated source password: %v, want restart", got)
	}
	stage := sub
	stage.Stage = spec.StagePaused
	if fp(stage, src) != base {
		t.Error("the stage is part of the fingerprint; it must not be")
	}
	if k := decide(fp(stage, src)); k != Noop {
		t.Errorf("unchanged config decides %v", k)
	}
	full := sub
	full.Mode = spec.ModeFull
	fullTuned := full
	fullTuned.Sync.Workers = 1
	if fp(full, src) != fp(fullTuned, src) {
		t.Error("sync tuning changes the fingerprint of a mode full subtask, which runs no sync")
	}
	if got := effect.Between(base, fp(full, src)); got != effect.Fresh {
		t.Errorf("a mode change: %v, want fresh", got)
	}
}
