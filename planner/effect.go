package planner

import (
	"slices"

	"github.com/dmplan/dmplan/spec"
)

// Effect is what a change to a subtask's config does to its running units.
// It is the contract between the plan (which prints it) and the agent's
// reconciler (which carries it out); doc.go has the table per field.
type Effect int

const (
	// EffectNone: nothing a unit reads changed (for example sync tuning on
	// a mode full task, which runs no sync).
	EffectNone Effect = iota
	// EffectLive: applied to the running units without a restart
	// (sync.workers, sync.batch; dump.threads at the next dump).
	EffectLive
	// EffectRestart: the units stop and start again from their checkpoint;
	// nothing copied is copied again, except tables newly matched by the
	// filter, which are snapshotted first.
	EffectRestart
	// EffectFresh: the checkpoint no longer applies; the subtask starts over
	// (a fresh dump, or sync from a new position). The plan shows Replace.
	EffectFresh
)

func (e Effect) String() string {
	switch e {
	case EffectNone:
		return "none"
	case EffectLive:
		return "live"
	case EffectRestart:
		return "restart"
	case EffectFresh:
		return "fresh"
	}
	return "unknown"
}

// SubtaskEffect classifies the change from one subtask config to another
// (the stage is not part of the config and is ignored). It reads only the
// configs, so the planner and an agent holding the running config agree.
func SubtaskEffect(before, after Subtask) Effect {
	e := EffectNone
	raise := func(x Effect) {
		if x > e {
			e = x
		}
	}
	if before.Mode != after.Mode {
		raise(EffectFresh)
	}
	if before.Target.Host != after.Target.Host || before.Target.Port != after.Target.Port {
		raise(EffectFresh)
	}
	if !slices.Equal(before.Routes, after.Routes) {
		if after.Mode == spec.ModeIncremental {
			raise(EffectRestart) // only changes from now on follow the new routes
		} else {
			raise(EffectFresh) // copied rows sit where the old routes put them
		}
	}
	if !startEqual(before.Start, after.Start) && after.Mode == spec.ModeIncremental {
		raise(EffectFresh)
	}
	if !slices.Equal(before.Tables, after.Tables) {
		raise(EffectRestart)
	}
	if before.Target.User != after.Target.User || before.Target.Password != after.Target.Password {
		raise(EffectRestart)
	}
	if before.Dump.Threads != after.Dump.Threads && after.Mode != spec.ModeIncremental {
		raise(EffectLive)
	}
	if before.Sync != after.Sync && after.Mode != spec.ModeFull {
		raise(EffectLive)
	}
	return e
}

func startEqual(a, b *spec.StartPos) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
