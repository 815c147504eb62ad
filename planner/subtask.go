package planner

import "github.com/dmplan/dmplan/spec"

// SubtaskOf derives the subtask of task t on source src, with its desired
// stage: what an agent that serves src runs for t. State.Subtasks derives
// the same for every task and source.
func SubtaskOf(t spec.Task, src string) Subtask { return subtaskOf(t, src) }
