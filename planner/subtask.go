package planner

import "github.com/dmplan/dmplan/spec"

// SubtaskOf derives the subtask of task t on source src, with its desired
// stage: what an agent that serves src runs for t. State.Subtasks derives
// the same for every task and source.
func SubtaskOf(t spec.Task, src string) Subtask { return subtaskOf(t, src) }

// TaskEqual reports whether two tasks are the same in every field, by
// value (nil and empty lists alike): what Diff shows no change for.
// TestEveryFieldIsDiffed keeps it complete.
func TaskEqual(a, b spec.Task) bool { return taskEqual(a, b) }

// SourceEqual reports whether two sources are the same in every field, by
// value (TLS and relay settings compared by what they hold).
func SourceEqual(a, b spec.Source) bool { return sourceEqual(a, b) }
