package statusview

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"sort"
	"strconv"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
)

// FormatVersion is the version of the JSON shape (docs/status-format.md).
const FormatVersion = 1

// View is the whole status.
type View struct {
	FormatVersion int                 `json:"formatVersion"`
	Revision      int64               `json:"revision"` // the head's revision (0: nothing applied yet)
	Sources       []Source            `json:"sources"`
	Workers       []Worker            `json:"workers"`
	Subtasks      []Subtask           `json:"subtasks"`
	Applies       []store.ApplyRecord `json:"applies"`
	// ShardLocks are the open shard DDL locks (docs/shard-ddl.md).
	ShardLocks []ShardLock `json:"shardLocks,omitempty"`
	// ShardSchemas are the optimistic shard records (docs/shard-ddl.md).
	ShardSchemas []ShardSchema `json:"shardSchemas,omitempty"`
}

// Source is one source and where it is bound.
type Source struct {
	Name    string      `json:"name"`
	Address string      `json:"address"`
	Flavor  spec.Flavor `json:"flavor,omitempty"`
	Pinned  string      `json:"pinned,omitempty"` // the worker it is pinned to
	Worker  string      `json:"worker,omitempty"` // the worker it is bound to
	Waiting bool        `json:"waiting"`          // no live agent serves it
	// Relay is its relay as the agent serving it reports it (docs/relay.md).
	Relay *store.RelayStatus `json:"relay,omitempty"`
}

// Worker is a live agent.
type Worker struct {
	Name    string `json:"name"`
	Address string `json:"address,omitempty"`
	Sources int    `json:"sources"` // bound to it
}

// Subtask is desired against observed for one task x source.
type Subtask struct {
	Task         string         `json:"task"`
	Source       string         `json:"source"`
	Mode         spec.Mode      `json:"mode"`
	Worker       string         `json:"worker,omitempty"`
	DesiredStage spec.Stage     `json:"desiredStage"`
	Stage        spec.Stage     `json:"stage,omitempty"` // observed; "" when no agent reports it
	Unit         string         `json:"unit,omitempty"`
	Progress     store.Progress `json:"progress"`
	BinlogFile   string         `json:"binlogFile,omitempty"`
	BinlogPos    uint32         `json:"binlogPos,omitempty"`
	GTID         string         `json:"gtid,omitempty"`
	LagSeconds   float64        `json:"lagSeconds"`
	Error        string         `json:"error,omitempty"`
	// Orphaned lists target tables ("db.table") the subtask wrote under
	// earlier routes and writes no more (their rows stay), as its agent
	// read them from dmplan_meta when the subtask last started.
	Orphaned []string `json:"orphaned,omitempty"`
	// DivergentChanges counts the row changes sync found the target
	// diverged on since the unit started (see store.SubtaskStatus).
	DivergentChanges int64 `json:"divergentChanges,omitempty"`
	// Validation is what sync's validator found (see store.Validation);
	// absent when validation is off or sync does not run.
	Validation *store.Validation `json:"validation,omitempty"`
	// FilteredEvents counts the row changes and statements spec.filters
	// dropped since the unit started.
	FilteredEvents int64 `json:"filteredEvents,omitempty"`
	// ConfigFingerprint is the digest of the applied config the status
	// reflects (see store.SubtaskStatus).
	ConfigFingerprint string `json:"configFingerprint,omitempty"`
	// Stale is set by Expect (status --wait): the status reflects another
	// config than the one applied last, or does not say which.
	Stale bool `json:"stale,omitempty"`
	// InSync says the observed stage is what was asked for (a full task
	// that finished counts as in sync with running).
	InSync bool `json:"inSync"`
	// Note says in words why not, e.g. "waiting for an agent".
	Note string `json:"note,omitempty"`
}

// StageFinished and StageError are observed-only stages.
const (
	StageFinished spec.Stage = "finished"
	StageError    spec.Stage = "error"
)

// Build joins the applied state, the agents' reports and the history.
// Only subtasks of taskFilter are kept when it is not empty.
func Build(snap *store.Snapshot, statuses []store.SubtaskStatus, applies []store.ApplyRecord, taskFilter string) View {
	v := View{FormatVersion: FormatVersion, Revision: snap.Revision, Applies: applies}
	if v.Applies == nil {
		v.Applies = []store.ApplyRecord{}
	}
	live := map[string]bool{}
	counts := map[string]int{}
	for src, w := range snap.State.Bounds {
		_ = src
		counts[w]++
	}
	for _, w := range snap.Workers {
		live[w.Name] = true
		v.Workers = append(v.Workers, Worker{Name: w.Name, Address: w.Address, Sources: counts[w.Name]})
	}
	for _, s := range snap.State.Sources {
		bound := snap.State.Bounds[s.Name]
		v.Sources = append(v.Sources, Source{
			Name: s.Name, Address: net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), Flavor: s.Flavor,
			Pinned: s.Worker, Worker: bound, Waiting: bound == "" || !live[bound],
		})
	}
	sort.Slice(v.Sources, func(i, j int) bool { return v.Sources[i].Name < v.Sources[j].Name })

	observed := map[planner.SubtaskID]store.SubtaskStatus{}
	for _, st := range statuses {
		observed[planner.SubtaskID{Task: st.Task, Source: st.Source}] = st
	}
	// The newest relay report of each source's bound agent: one pass over
	// the statuses (100,000 subtasks on 10,000 sources must not be a
	// product of the two).
	relays := map[string]int{} // source -> index in statuses
	for i, st := range statuses {
		if st.Relay == nil || st.Worker != snap.State.Bounds[st.Source] {
			continue
		}
		if j, ok := relays[st.Source]; !ok || st.UpdatedAt.After(statuses[j].UpdatedAt) {
			relays[st.Source] = i
		}
	}
	for i := range v.Sources {
		s := &v.Sources[i]
		if j, ok := relays[s.Name]; ok && !statuses[j].UpdatedAt.IsZero() {
			r := *statuses[j].Relay
			s.Relay = &r
		}
	}
	// Every subtask: its mode and desired stage are its task's (no need
	// to derive whole subtasks, which a state of 100,000 would pay for).
	n := 0
	for _, t := range snap.State.Tasks {
		n += len(t.Sources)
	}
	v.Subtasks = make([]Subtask, 0, n)
	// Rows are made in (task, source) order rather than sorted after:
	// sorting 100,000 rows of this size costs more than making them.
	for _, name := range slices.Sorted(maps.Keys(snap.State.Tasks)) {
		t := snap.State.Tasks[name]
		if taskFilter != "" && t.Name != taskFilter {
			continue
		}
		sources := t.Sources
		if !slices.IsSorted(sources) {
			sources = slices.Sorted(slices.Values(sources))
		}
		for _, src := range sources {
			v.Subtasks = append(v.Subtasks, subtaskRow(planner.SubtaskID{Task: t.Name, Source: src}, t, snap, observed, live))
		}
	}
	if v.Sources == nil {
		v.Sources = []Source{}
	}
	if v.Workers == nil {
		v.Workers = []Worker{}
	}
	if v.Subtasks == nil {
		v.Subtasks = []Subtask{}
	}
	return v
}

// subtaskRow is the row of subtask id of task t: what is desired next to
// what its agent observes.
func subtaskRow(id planner.SubtaskID, t spec.Task, snap *store.Snapshot, observed map[planner.SubtaskID]store.SubtaskStatus, live map[string]bool) Subtask {
	row := Subtask{Task: id.Task, Source: id.Source, Mode: t.Mode, DesiredStage: t.Stage, Worker: snap.State.Bounds[id.Source]}
	if st, ok := observed[id]; ok {
		row.Worker = st.Worker
		row.Stage, row.Unit, row.Progress = st.Stage, st.Unit, st.Progress
		row.BinlogFile, row.BinlogPos, row.GTID = st.BinlogFile, st.BinlogPos, st.GTID
		row.LagSeconds, row.Error, row.Orphaned = st.LagSeconds, st.Error, st.Orphaned
		row.DivergentChanges = st.DivergentChanges
		row.Validation = st.Validation
		row.FilteredEvents = st.FilteredEvents
		row.ConfigFingerprint = st.ConfigFingerprint
	}
	row.InSync, row.Note = judge(row, live)
	if n := row.DivergentChanges; n > 0 {
		d := fmt.Sprintf("target diverged: %d row changes found a missing or extra row (the agent's log names them; run dmplan verify %s)", n, id.Task)
		if row.Note != "" {
			d = row.Note + "; " + d
		}
		row.Note = d
	}
	if val := row.Validation; val != nil && val.Failed > 0 {
		d := fmt.Sprintf("validation: %d %s differ on the target (listed below; dmplan verify %s --fix-sql FILE writes the repair)",
			val.Failed, plural(val.Failed, "row", "rows"), id.Task)
		if row.Note != "" {
			d = row.Note + "; " + d
		}
		row.Note = d
	}
	if n := row.FilteredEvents; n > 0 {
		d := fmt.Sprintf("spec.filters dropped %d binlog events since sync started", n)
		if row.Note != "" {
			d = row.Note + "; " + d
		}
		row.Note = d
	}
	return row
}

// judge says whether a subtask is where it was asked to be, and if not, why.
func judge(s Subtask, live map[string]bool) (bool, string) {
	switch {
	case s.Stage == StageError:
		return false, "error: fix the cause, then change the config or pause (wait until observed paused) and resume"
	case s.Worker == "" || !live[s.Worker]:
		if s.DesiredStage != spec.StageRunning {
			return true, "waiting for an agent (nothing runs meanwhile)"
		}
		return false, "waiting for an agent"
	case s.Stage == "":
		if s.DesiredStage != spec.StageRunning {
			return true, ""
		}
		return false, "not reported yet by " + s.Worker
	case s.Stage == s.DesiredStage:
		return true, ""
	case s.Stage == StageFinished:
		// Running: the copy is done. Paused or stopped: nothing runs, as
		// asked; the agent leaves a finished copy finished.
		return true, ""
	}
	return false, "moving from " + string(s.Stage) + " to " + string(s.DesiredStage)
}

// Summary counts subtasks in and out of sync, for one-line reports.
func (v View) Summary() (inSync, total int) {
	for _, s := range v.Subtasks {
		if s.InSync {
			inSync++
		}
	}
	return inSync, len(v.Subtasks)
}

// Retrying counts the running subtasks whose last attempt failed with an
// error the units retry (a server they cannot reach, a lost connection):
// running, but not moving until it clears.
func (v View) Retrying() int {
	n := 0
	for _, s := range v.Subtasks {
		if s.Stage == spec.StageRunning && s.Error != "" {
			n++
		}
	}
	return n
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
