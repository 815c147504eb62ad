// Package refresh gathers what `dmplan plan --refresh` shows beside a plan:
// for every subtask a change involves, read-only facts from its source and
// target — the tables the change newly selects or deselects with
// information_schema's estimates and a copy time at the measured rate, the
// prechecks apply would meet, and drift (target columns that differ from the
// source's, servers that cannot be reached). It only reads; the planner
// stays pure and receives the facts as data (planner.Refresh).
package refresh
