// Package planner computes what apply would change: Diff(desired, current)
// returns a Plan of create, update, replace and delete changes for sources,
// tasks, subtasks, desired stages and bounds, each with an impact line that
// says what will happen to data and to running units. Bound scheduling
// (which agent serves which source) lives here too.
//
// The package is pure: no etcd, no SQL, no clock, no I/O but the writers and
// readers it is handed. Rendering (text, JSON, markdown) only prints a Plan.
package planner
