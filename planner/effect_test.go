package planner

import (
	"testing"

	"github.com/dmplan/dmplan/spec"
)

func TestSubtaskEffect(t *testing.T) {
	base := func(m spec.Mode) Subtask {
		task := testTask("shop", "mysql-01")
		task.Mode = m
		return State{Tasks: map[string]spec.Task{"shop": task}}.Subtasks()[SubtaskID{"shop", "mysql-01"}]
	}
	tests := []struct {
		name   string
		mode   spec.Mode
		change func(*Subtask)
		want   Effect
	}{
		{"nothing", spec.ModeAll, func(*Subtask) {}, EffectNone},
		{"stage is not config", spec.ModeAll, func(s *Subtask) { s.Stage = spec.StagePaused }, EffectNone},
		{"sync.workers live", spec.ModeAll, func(s *Subtask) { s.Sync.Workers = 16 }, EffectLive},
		{"sync.batch live", spec.ModeIncremental, func(s *Subtask) { s.Sync.Batch = 500 }, EffectLive},
		{"sync tuning on full: none", spec.ModeFull, func(s *Subtask) { s.Sync.Batch = 500 }, EffectNone},
		{"dump.threads live", spec.ModeFull, func(s *Subtask) { s.Dump.Threads = 8 }, EffectLive},
		{"dump.threads on incremental: none", spec.ModeIncremental, func(s *Subtask) { s.Dump.Threads = 8 }, EffectNone},
		{"tables restart", spec.ModeAll, func(s *Subtask) { s.Tables = []string{"shop.orders"} }, EffectRestart},
		{"target user restart", spec.ModeAll, func(s *Subtask) { s.Target.User = "dm" }, EffectRestart},
		{"target password restart", spec.ModeAll, func(s *Subtask) { s.Target.Password.Digest = "other" }, EffectRestart},
		{"target port fresh", spec.ModeAll, func(s *Subtask) { s.Target.Port = 4001 }, EffectFresh},
		{"target host fresh", spec.ModeIncremental, func(s *Subtask) { s.Target.Host = "127.0.0.2" }, EffectFresh},
		{"mode fresh", spec.ModeAll, func(s *Subtask) { s.Mode = spec.ModeIncremental }, EffectFresh},
		{"routes on all: fresh", spec.ModeAll, func(s *Subtask) { s.Routes = []spec.Route{{From: "a.*", To: "a.b"}} }, EffectFresh},
		{"routes on incremental: restart", spec.ModeIncremental, func(s *Subtask) { s.Routes = []spec.Route{{From: "a.*", To: "a.b"}} }, EffectRestart},
		{"start on incremental: fresh", spec.ModeIncremental, func(s *Subtask) { s.Start = &spec.StartPos{GTID: "0-1-9"} }, EffectFresh},
		{"start on all: none", spec.ModeAll, func(s *Subtask) { s.Start = &spec.StartPos{GTID: "0-1-9"} }, EffectNone},
		{"strongest wins", spec.ModeAll, func(s *Subtask) { s.Sync.Workers = 1; s.Target.Port = 1 }, EffectFresh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := base(tt.mode)
			after := base(tt.mode)
			tt.change(&after)
			if got := SubtaskEffect(before, after); got != tt.want {
				t.Errorf("SubtaskEffect = %v, want %v", got, tt.want)
			}
		})
	}
}
