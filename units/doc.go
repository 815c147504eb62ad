// Package units is dmplan's migration engine for one subtask (one task x
// one source): dump (a consistent snapshot of the tables the filter
// selects, with the binlog position it corresponds to), load (into the
// target, in parallel batches) and sync (binlog replication with go-mysql),
// with checkpoints in the target's dmplan_meta schema.
//
// The whole interface is Run(ctx, cfg, reporter): cancelling ctx stops the
// units promptly and leaves a checkpoint; running again resumes from it;
// running twice is safe. units knows nothing of etcd.
package units
