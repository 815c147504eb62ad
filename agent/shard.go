package agent

import (
	"context"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/reconciler"
	"github.com/dmplan/dmplan/units/job"
)

// shardLocks gives the units the shard DDL locks kept in etcd
// (job.ShardCoordinator; docs/shard-ddl.md): units never import etcd.
type shardLocks struct {
	store *store.Store
	clock reconciler.Clock
}

func (c shardLocks) Join(ctx context.Context, j job.ShardJoin) (job.ShardLock, error) {
	return c.store.JoinShardLock(ctx, j, c.clock.Now())
}

func (c shardLocks) Lock(ctx context.Context, task, target string) (job.ShardLock, bool, error) {
	return c.store.ShardLock(ctx, task, target)
}

func (c shardLocks) Done(ctx context.Context, task, target, ddl string) error {
	return c.store.ShardLockDone(ctx, task, target, ddl)
}

func (c shardLocks) Ack(ctx context.Context, task, target, shard, ddl string) error {
	return c.store.AckShardLock(ctx, task, target, shard, ddl)
}

func (c shardLocks) Schema(ctx context.Context, task, target string) (job.ShardSchema, bool, error) {
	return c.store.ShardSchema(ctx, task, target)
}

func (c shardLocks) UpdateSchema(ctx context.Context, task, target string, f func(job.ShardSchema, bool) (*job.ShardSchema, bool)) (job.ShardSchema, error) {
	return c.store.UpdateShardSchema(ctx, task, target, f)
}
