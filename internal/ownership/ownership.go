package ownership

import (
	"sort"
	"strings"
)

// Writer is a subtask that writes, or wrote, rows into a target table.
type Writer struct {
	Task   string
	Source string
	Mode   string // full | incremental | all; "" when unknown
	// Table is the source table, when the writer is the deciding
	// subtask itself through another of its source tables.
	Table string
}

func (w Writer) String() string {
	s := w.Task + "/" + w.Source
	if w.Table != "" {
		s += " (table " + w.Table + ")"
	}
	if w.Mode != "" {
		s += " (" + w.Mode + ")"
	}
	return s
}

// Facts is what is known about one target table when a subtask is about
// to copy rows into it again from a new snapshot.
type Facts struct {
	Exists bool
	Empty  bool // meaningful when Exists
	// Wrote: this subtask wrote (or may have written) rows into it under
	// an earlier configuration.
	Wrote bool
	// Created: this subtask created the table.
	Created bool
	// Others: every other writer, in any mode or stage, on any agent.
	Others []Writer
}

// Action is what the copy does with the table first.
type Action int

const (
	// Keep: absent or empty; nothing to remove.
	Keep Action = iota
	// Drop: this subtask created it and nothing else writes into it: drop
	// it and create it again from the source's definition.
	Drop
	// LoadBeside: other subtasks write into it and this one never did: it
	// owns none of the rows, so none is removed and its rows are loaded
	// beside theirs.
	LoadBeside
	// RefuseShared: other subtasks write into it and this one did too; its
	// rows cannot be told from theirs: stop with a permanent error.
	RefuseShared
	// RefuseForeign: no other subtask writes into it, but it holds rows
	// this subtask did not create it with (the table was made, or filled,
	// by hand): stop with a permanent error.
	RefuseForeign
)

func (a Action) String() string {
	switch a {
	case Keep:
		return "keep"
	case Drop:
		return "drop"
	case LoadBeside:
		return "load-beside"
	case RefuseShared:
		return "refuse-shared"
	case RefuseForeign:
		return "refuse-foreign"
	}
	return "unknown"
}

// Refuses reports whether the copy stops instead.
func (a Action) Refuses() bool { return a == RefuseShared || a == RefuseForeign }

// Decide applies the rule.
func Decide(f Facts) Action {
	switch {
	case !f.Exists:
		return Keep
	case len(f.Others) == 0 && f.Created:
		return Drop
	case f.Empty:
		return Keep
	case len(f.Others) > 0 && !f.Wrote:
		return LoadBeside
	case len(f.Others) > 0:
		return RefuseShared
	}
	return RefuseForeign
}

// Names lists writers sorted and joined with ", ".
func Names(ws []Writer) string {
	s := make([]string, len(ws))
	for i, w := range ws {
		s[i] = w.String()
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}
