// Package ownership decides what starting a target table over does when
// other subtasks may write into it too: the one rule that the planner's
// impact line (from patterns, offline) and the units (from dmplan_meta,
// on the target) both apply, so the plan says what the agents do.
//
// dmplan records which target tables each subtask writes into
// (dmplan_meta.subtask_table), not which rows: a subtask can prove that it
// owns no row of a table (it never wrote into it), never which rows of a
// shared table are its own. So a shared table is never dropped; a subtask
// that never wrote into it loads beside the others' rows, and one that did
// stops with an error that names the other writers and says what to do.
// It is pure: standard library only.
package ownership
