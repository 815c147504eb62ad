package planner

import (
	"github.com/dmplan/dmplan/internal/effect"
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
		want   effect.Effect
	}{
		{"nothing", spec.ModeAll, func(*Subtask) {}, effect.None},
		{"stage is not config", spec.ModeAll, func(s *Subtask) { s.Stage = spec.StagePaused }, effect.None},
		{"sync.workers live", spec.ModeAll, func(s *Subtask) { s.Sync.Workers = 16 }, effect.Tuning},
		{"sync.batch live", spec.ModeIncremental, func(s *Subtask) { s.Sync.Batch = 500 }, effect.Tuning},
		{"sync tuning on full: none", spec.ModeFull, func(s *Subtask) { s.Sync.Batch = 500 }, effect.None},
		{"dump.threads live", spec.ModeFull, func(s *Subtask) { s.Dump.Threads = 8 }, effect.Tuning},
		{"dump.threads on incremental: none", spec.ModeIncremental, func(s *Subtask) { s.Dump.Threads = 8 }, effect.None},
		{"tables restart", spec.ModeAll, func(s *Subtask) { s.Tables = []string{"shop.orders"} }, effect.Restart},
		{"target user restart", spec.ModeAll, func(s *Subtask) { s.Target.User = "dm" }, effect.Restart},
		{"target password restart", spec.ModeAll, func(s *Subtask) { s.Target.Password.Digest = "other" }, effect.Restart},
		{"target port fresh", spec.ModeAll, func(s *Subtask) { s.Target.Port = 4001 }, effect.Fresh},
		{"target host fresh", spec.ModeIncremental, func(s *Subtask) { s.Target.Host = "127.0.0.2" }, effect.Fresh},
		{"mode fresh", spec.ModeAll, func(s *Subtask) { s.Mode = spec.ModeIncremental }, effect.Fresh},
		{"routes on all: fresh", spec.ModeAll, func(s *Subtask) { s.Routes = []spec.Route{{From: "a.*", To: "a.b"}} }, effect.Fresh},
		{"routes on incremental: restart", spec.ModeIncremental, func(s *Subtask) { s.Routes = []spec.Route{{From: "a.*", To: "a.b"}} }, effect.Restart},
		{"start on incremental: fresh", spec.ModeIncremental, func(s *Subtask) { s.Start = &spec.StartPos{GTID: "0-1-9"} }, effect.Fresh},
		{"start on all: none", spec.ModeAll, func(s *Subtask) { s.Start = &spec.StartPos{GTID: "0-1-9"} }, effect.None},
		{"strongest wins", spec.ModeAll, func(s *Subtask) { s.Sync.Workers = 1; s.Target.Port = 1 }, effect.Fresh},
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
