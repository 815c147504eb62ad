// Package planner computes what apply would change: Diff(desired, current,
// workers) returns a Plan of create, update, replace and delete changes for
// sources, tasks, subtasks (one per task x source), desired stages and bounds
// (source -> agent), each with impact lines that say what will happen to data
// and to running units. Bound scheduling (Schedule) lives here too.
//
// The package is pure: no etcd, no SQL, no clock, no environment, no I/O but
// the writers and readers it is handed. It imports only the standard library
// and spec (a test checks this). Rendering (RenderText, RenderJSON,
// RenderMarkdown) only prints a Plan; WriteFile and ReadFile save and load it
// with a SHA-256 digest (docs/plan-format.md).
//
// # Actions
//
// The action of a change is a promise about progress:
//
//	create   (+)    a new object
//	update   (~)    changed in place; checkpoints are kept (units may restart)
//	replace  (-/+)  the subtask starts over: its checkpoint no longer applies
//	delete   (-)    removed; rows already copied and checkpoints stay in the target
//
// # What a change does to running units
//
// SubtaskEffect classifies a change of a subtask's config with effect.Of
// (internal/effect), the one rule the agent's reconciler and the units
// follow too; internal/effect's golden test shows each impact line next to
// what the agent does. Every unit takes its config when it starts, so a
// change that reaches a running unit stops it and starts it again:
// effect.Fresh discards the subtask's checkpoints in the target (the
// dump/load and sync checkpoints in dmplan_meta) before the units start
// again; effect.Restart and effect.Tuning restart them from their
// checkpoints (Tuning leaves a finished mode full copy finished).
//
//	field                          effect    plan     what happens
//	spec.sync.workers, sync.batch  tuning    update   sync restarts from its checkpoint with the new
//	                                                  tuning (no effect in mode full, which runs no sync)
//	spec.validate.mode             tuning    update   sync restarts from its checkpoint and validates the
//	                                                  rows it applies from then on with the new mode (no
//	                                                  effect in mode full)
//	spec.dump.threads              tuning    update   a dump/load in progress restarts with the new
//	                                                  threads: chunks already loaded are kept, the rest
//	                                                  is read from a new snapshot; mode all: sync also
//	                                                  restarts from its checkpoint (no effect in mode
//	                                                  incremental)
//	spec.stage                     -         update   pause, resume or stop; checkpoints are kept
//	spec.tables                    restart   update   units restart from their checkpoints; tables newly
//	                                                  matched are snapshotted before they join replication
//	                                                  (mode incremental: replicated from the checkpoint on,
//	                                                  existing rows not copied); tables no longer matched
//	                                                  keep their rows in the target, their changes stop
//	spec.target.user, .password    restart   update   reconnect, restart from the checkpoints
//	spec.acceptLostCascades        restart   update   sync checks the foreign-key cascades again when it
//	                                                  starts (no effect in mode full)
//	spec.routes (mode incremental) restart   update   changes from now on follow the new routes; rows
//	                                                  already in the target are not moved
//	spec.routes (modes all, full)  fresh     replace  target tables are dumped again with the new routes
//	spec.start (mode incremental)  fresh     replace  sync restarts at the new position, not the checkpoint
//	spec.mode                      fresh     replace  the subtask starts over in the new mode
//	spec.target.host, .port        fresh     replace  everything is copied again into the new target; the
//	                                                  old target keeps its rows and checkpoints
//	spec.sources                   -         update   subtasks are created or deleted
//
// Source fields act through the source's subtasks: host, port, user,
// password and flavor make them reconnect and restart from their
// checkpoints (update); spec.worker pins the source, which may move its
// bound. A bound that moves restarts the source's subtasks on the new agent
// from their checkpoints (update). A source whose pinned agent is not live,
// or for which no agent is live, waits: it has no bound and is listed in
// Plan.Waiting.
//
// # Table filters
//
// The planner cannot list a source's tables, so a filter change is
// described by patterns: for every combination of patterns a table could
// match, both filters are evaluated (last match wins, "!" excludes), and the
// combinations whose outcome changes are grouped by the pattern that decides
// them, e.g. "tables newly matched by shop.* except shop.orders (already
// matched), shop.tmp_* (excluded)". Pattern containment and overlap are
// decided exactly for '*' and '?' globs; quoted names and escapes are split
// and matched through internal/tablefilter, and parts with [classes] are
// treated conservatively. Each description is checked to be exact
// before it is printed, and split into finer ones when it is not.
package planner
