package agent

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/dmplan/dmplan/internal/effect"
	"github.com/dmplan/dmplan/internal/golden"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/reconciler"
	"github.com/dmplan/dmplan/spec"
	"github.com/dmplan/dmplan/units"
)

// TestPlanSaysWhatAgentsDo shows, for every kind of change to a running
// subtask, the plan's impact lines next to what the agent does with the
// same change: the reconciler's action (from the fingerprints the agent
// builds of the applied configs) and what the units then do with their
// checkpoints (effect.ResumeOf on the record the previous run left in the
// target). Any drift between the plan and the agent shows in the golden
// file testdata/golden/agent/effects.txt; the test also fails when a line
// promises a restart the agent does not do, or the other way round.
func TestPlanSaysWhatAgentsDo(t *testing.T) {
	secret := func(ref, v string) spec.Secret { return spec.Secret{Ref: ref, Digest: spec.Digest(ref, v)} }
	src := spec.Source{Name: "mysql-01", Endpoint: spec.Endpoint{Host: "127.0.0.1", Port: 3306, User: "dm",
		Password: secret("SOURCE_PASSWORD", "s")}}
	task := func(m spec.Mode) spec.Task {
		return spec.Task{Name: "shop", Mode: m, Stage: spec.StageRunning,
			Target:  spec.Endpoint{Host: "127.0.0.1", Port: 4000, User: "root", Password: secret("TARGET_PASSWORD", "t")},
			Sources: []string{"mysql-01"}, Tables: []string{"shop.*"},
			Dump: spec.DumpConfig{Threads: 4}, Sync: spec.SyncConfig{Workers: 8, Batch: 100}}
	}
	env := map[string]string{"SOURCE_PASSWORD": "s", "TARGET_PASSWORD": "t", "NEW_PASSWORD": "n"}
	sec := newSecrets("agent-a", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	sec.setHasher(spec.NewHasher(nil)) // the salt spec.Digest uses
	cases := []struct {
		name  string
		modes []spec.Mode
		edit  func(*spec.Task, *spec.Source)
		prep  func(*spec.Source) // applied before and after (optional)
	}{
		{"sync.workers 8 -> 16", allModes, func(t *spec.Task, _ *spec.Source) { t.Sync.Workers = 16 }, nil},
		{"sync.batch 100 -> 500", allModes, func(t *spec.Task, _ *spec.Source) { t.Sync.Batch = 500 }, nil},
		{"dump.threads 4 -> 8", allModes, func(t *spec.Task, _ *spec.Source) { t.Dump.Threads = 8 }, nil},
		{"validate.mode none -> full", allModes, func(t *spec.Task, _ *spec.Source) { t.Validate.Mode = spec.ValidateFull }, nil},
		{"validate.mode none -> fast", []spec.Mode{spec.ModeIncremental}, func(t *spec.Task, _ *spec.Source) { t.Validate.Mode = spec.ValidateFast }, nil},
		{"tables", allModes, func(t *spec.Task, _ *spec.Source) { t.Tables = []string{"shop.*", "crm.*"} }, nil},
		{"routes", allModes, func(t *spec.Task, _ *spec.Source) { t.Routes = []spec.Route{{From: "shop.*", To: "dw.*"}} }, nil},
		{"start", []spec.Mode{spec.ModeIncremental}, func(t *spec.Task, _ *spec.Source) {
			t.Start = map[string]spec.StartPos{"mysql-01": {GTID: "0-1-100"}}
		}, nil},
		{"mode all -> incremental", []spec.Mode{spec.ModeAll}, func(t *spec.Task, _ *spec.Source) { t.Mode = spec.ModeIncremental }, nil},
		{"target.user", allModes, func(t *spec.Task, _ *spec.Source) { t.Target.User = "dm" }, nil},
		{"target.password", allModes, func(t *spec.Task, _ *spec.Source) { t.Target.Password = secret("NEW_PASSWORD", "n") }, nil},
		{"target.port", allModes, func(t *spec.Task, _ *spec.Source) { t.Target.Port = 4001 }, nil},
		{"source.password", allModes, func(_ *spec.Task, s *spec.Source) { s.Password = secret("NEW_PASSWORD", "n") }, nil},
		{"filters", allModes, func(t *spec.Task, _ *spec.Source) {
			t.Filters = []spec.FilterRule{{Tables: []string{"shop.orders"}, Events: []string{"delete", "truncate table"}, Action: "ignore"}}
		}, nil},
		{"onlineDDL false", allModes, func(t *spec.Task, _ *spec.Source) { t.OnlineDDL = spec.OnlineDDL{Off: true} }, nil},
		{"source.flavor", allModes, func(_ *spec.Task, s *spec.Source) { s.Flavor = spec.FlavorMariaDB }, nil},
		{"source.relay off -> on", allModes, func(_ *spec.Task, s *spec.Source) { s.Relay = &spec.Relay{Enabled: true} }, nil},
		{"source.relay on -> off", allModes, func(_ *spec.Task, s *spec.Source) { s.Relay = nil },
			func(s *spec.Source) { s.Relay = &spec.Relay{Enabled: true} }},
		{"source.relay retain", []spec.Mode{spec.ModeAll}, func(_ *spec.Task, s *spec.Source) {
			s.Relay = &spec.Relay{Enabled: true, Retain: "24h"}
		}, func(s *spec.Source) { s.Relay = &spec.Relay{Enabled: true} }},
	}
	var out bytes.Buffer
	for _, c := range cases {
		for _, m := range c.modes {
			before, bsrc := task(m), src
			if c.prep != nil {
				c.prep(&bsrc)
			}
			after, asrc := task(m), bsrc
			c.edit(&after, &asrc)
			cur := planner.State{Sources: map[string]spec.Source{"mysql-01": bsrc}, Tasks: map[string]spec.Task{"shop": before},
				Bounds: map[string]string{"mysql-01": "agent-a"}}
			want := planner.State{Sources: map[string]spec.Source{"mysql-01": asrc}, Tasks: map[string]spec.Task{"shop": after}}
			plan := planner.Diff(want, cur, []planner.Worker{{Name: "agent-a"}})

			id := planner.SubtaskID{Task: "shop", Source: "mysql-01"}
			old := sec.build(id, cur.Subtasks()[id], bsrc)
			neu := sec.build(id, plan.Desired.Subtasks()[id], asrc)
			if old.Err != "" || neu.Err != "" {
				t.Fatalf("%s: build: %s%s", c.name, old.Err, neu.Err)
			}
			acts := reconciler.Decide([]reconciler.Desired{neu},
				[]reconciler.Observed{{ID: id, State: reconciler.StateRunning, Fingerprint: old.Fingerprint}})
			eff := effect.Between(old.Fingerprint, neu.Fingerprint)
			rec := effect.RecordOf(units.EffectConfig(old.Config))
			resume := effect.ResumeOf(&rec, units.EffectConfig(neu.Config))
			if old.Config.To != neu.Config.To && (old.Config.To.Host != neu.Config.To.Host || old.Config.To.Port != neu.Config.To.Port) {
				resume = effect.ResumeFirst // another target holds no record of this subtask (or its own)
			}

			fmt.Fprintf(&out, "== %s (mode %s, running on agent-a)\nplan:\n", c.name, m)
			var lines []string
			for _, ch := range plan.Changes {
				for _, l := range ch.Impact {
					fmt.Fprintf(&out, "  %s %s %s: %s\n", ch.Action, ch.Kind, ch.Name, l)
					lines = append(lines, l)
				}
			}
			fmt.Fprintf(&out, "effect: %s\nagent: %s: %s\nunits: %s\n\n", eff, acts[0].Kind, acts[0].Reason, resume)

			// The promises, checked: a plan that says "restarts" or "starts
			// over" is one the agent carries out, and "no effect" is one it
			// keeps.
			all := strings.Join(lines, "\n")
			restarts := acts[0].Kind == reconciler.Restart
			promises := strings.Contains(all, "restart") || strings.Contains(all, "starts over") || strings.Contains(all, "reconnects") || strings.Contains(all, "copies everything again")
			if restarts != promises {
				t.Errorf("%s (mode %s): agent %s, plan says:\n%s", c.name, m, acts[0].Kind, all)
			}
			if strings.Contains(all, "live") || strings.Contains(all, "no restart") {
				t.Errorf("%s (mode %s): the plan promises a live change; agents restart units:\n%s", c.name, m, all)
			}
			if (resume == effect.ResumeStartOver) != (eff == effect.Fresh && old.Config.To == neu.Config.To) {
				t.Errorf("%s (mode %s): units %s, effect %s", c.name, m, resume, eff)
			}
		}
	}
	golden.Check(t, "agent/effects.txt", out.Bytes())
}

var allModes = []spec.Mode{spec.ModeFull, spec.ModeIncremental, spec.ModeAll}
