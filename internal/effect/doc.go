// Package effect decides what a change of a subtask's config does to its
// units. It is the one home of that rule: the planner prints it as the
// plan's impact (Of, Changes), the agent's reconciler acts on it
// (FingerprintOf, Between) and the units apply it to their checkpoints
// (FreshKey, ResumeOf). A golden test (testdata/golden/agent/effects.txt) shows,
// for every change, the plan's impact line next to what the agent and its
// units do, so the two cannot drift apart.
//
// The package is pure: the standard library only, no I/O. Config carries
// password digests or references, never values.
//
// # The rule
//
// Every running unit takes its config when it starts, so a change that
// reaches a running unit stops it and starts it again:
//
//	field                          effect   what the agent does
//	spec.mode                      fresh    the subtask starts over in the new mode
//	spec.target.host, .port        fresh    units start on the new target (from its
//	                                        checkpoints when it already holds this subtask's)
//	spec.routes (modes all, full)  fresh    the subtask starts over: target tables dumped again
//	spec.start (mode incremental)  fresh    sync starts at the new position, not the checkpoint
//	spec.routes (incremental)      restart  units restart from their checkpoints
//	spec.tables                    restart  units restart; modes all/full copy newly matched tables first
//	spec.target.user, .password    restart  units restart from their checkpoints
//	spec.filters, spec.onlineDDL   restart  units restart from their checkpoints; binlog events
//	                                        from there on follow the new rules (mode full: none)
//	spec.acceptLostCascades        restart  units restart; sync checks the foreign-key cascades
//	                                        again (mode full: none)
//	source host, port, user,       restart  units restart from their checkpoints
//	  password, flavor
//	source relay on/off            restart  sync restarts from its checkpoint reading the relay
//	                                        (on) or the source (off) (mode full: none)
//	spec.sync.workers, .batch      tuning   units restart from their checkpoints (mode full: none)
//	spec.validate.mode             tuning   units restart from their checkpoints; sync validates
//	                                        rows with the new mode (mode full: none)
//	spec.dump.threads              tuning   units restart from their checkpoints; a dump/load in
//	                                        progress keeps the chunks already loaded and reads the
//	                                        rest from a new snapshot (mode incremental: none)
//
// Tuning differs from restart only for a mode full subtask whose copy has
// finished: tuning leaves it finished, a restart runs it again (and it
// copies tables newly matched by the filter).
package effect
