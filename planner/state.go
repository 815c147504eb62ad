package planner

import (
	"slices"

	"github.com/dmplan/dmplan/spec"
)

// State is everything dmplan manages, as plain values. The desired state (from
// YAML) and the current state (from etcd) are the same type, so Diff compares
// like with like. Maps are keyed by name; encoding/json sorts map keys, so a
// State always serialises the same way.
type State struct {
	Sources map[string]spec.Source `json:"sources"`
	Tasks   map[string]spec.Task   `json:"tasks"`
	// Bounds maps a source name to the agent that serves it. A source
	// missing from Bounds is waiting for an agent.
	Bounds map[string]string `json:"bounds"`
}

// Worker is a live agent registration. Workers are an input to scheduling,
// never written by apply: agents register themselves under a lease.
type Worker struct {
	Name    string `json:"name"`
	Address string `json:"address,omitempty"`
	// Relays names the sources whose relay directory the agent holds
	// (docs/relay.md, "Failover"), sorted: Schedule prefers it for them.
	Relays []string `json:"relays,omitempty"`
}

// Equal reports whether w and o are the same registration.
func (w Worker) Equal(o Worker) bool {
	return w.Name == o.Name && w.Address == o.Address && slices.Equal(w.Relays, o.Relays)
}

// SubtaskID names one task x source pair.
type SubtaskID struct {
	Task   string `json:"task"`
	Source string `json:"source"`
}

func (id SubtaskID) String() string { return id.Task + "/" + id.Source }

// Subtask is what one agent runs for one task on one source: everything the
// units need, derived from the task and the source. Stage is kept apart (see
// State.Subtasks) so that pausing never rewrites a subtask's config.
type Subtask struct {
	Task   string          `json:"task"`
	Source string          `json:"source"`
	Mode   spec.Mode       `json:"mode"`
	Target spec.Endpoint   `json:"target"`
	Tables []string        `json:"tables"`
	Routes []spec.Route    `json:"routes,omitempty"`
	Start  *spec.StartPos  `json:"start,omitempty"`
	Dump   spec.DumpConfig `json:"dump"`
	Sync   spec.SyncConfig `json:"sync"`
	Stage  spec.Stage      `json:"-"` // stored under its own key
	// AcceptLostCascades: spec.Task.AcceptLostCascades.
	AcceptLostCascades []string `json:"acceptLostCascades,omitempty"`
	// Validate: spec.Task.Validate.
	Validate spec.ValidateConfig `json:"validate,omitzero"`
	// Filters, OnlineDDL: spec.Task's.
	Filters   []spec.FilterRule `json:"filters,omitempty"`
	OnlineDDL spec.OnlineDDL    `json:"onlineDDL,omitzero"`
	// ShardMode, ShardDDL: spec.Task's; ShardSources: the task's sources
	// (the shards of a merged table come from all of them).
	ShardMode    spec.ShardMode `json:"shardMode,omitempty"`
	ShardDDL     spec.ShardDDL  `json:"shardDDL,omitzero"`
	ShardSources []string       `json:"shardSources,omitempty"`
}

// Subtasks derives one Subtask per task x source.
func (s State) Subtasks() map[SubtaskID]Subtask {
	out := make(map[SubtaskID]Subtask)
	for _, t := range s.Tasks {
		for _, src := range t.Sources {
			out[SubtaskID{Task: t.Name, Source: src}] = subtaskOf(t, src)
		}
	}
	return out
}

// subtaskOf derives the subtask of task t on source src.
func subtaskOf(t spec.Task, src string) Subtask {
	st := Subtask{
		Task: t.Name, Source: src, Mode: t.Mode, Target: t.Target,
		Tables: t.Tables, Routes: t.Routes, Dump: t.Dump, Sync: t.Sync, Stage: t.Stage,
		AcceptLostCascades: t.AcceptLostCascades, Validate: t.Validate,
		Filters: t.Filters, OnlineDDL: t.OnlineDDL,
		ShardMode: t.ShardMode, ShardDDL: t.ShardDDL,
	}
	if t.ShardMode != "" {
		st.ShardSources = t.Sources
	}
	if p, ok := t.Start[src]; ok {
		st.Start = &p
	}
	return st
}

// FromSpec turns a loaded desired state into a State without bounds; bounds
// are scheduled by Diff against the live workers.
func FromSpec(set *spec.Set) State {
	st := State{Sources: make(map[string]spec.Source, len(set.Sources)), Tasks: make(map[string]spec.Task, len(set.Tasks)), Bounds: map[string]string{}}
	for _, s := range set.Sources {
		st.Sources[s.Name] = s
	}
	for _, t := range set.Tasks {
		st.Tasks[t.Name] = t
	}
	return st
}
