package store

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/dmplan/dmplan/units/job"
)

// Shard DDL locks (docs/shard-ddl.md): one key per task and merged target
// table, without a lease, so a lock outlives the agents that joined it.
// Every change is a compare-and-set on the key's revision.

// ShardLock returns the lock of a target table.
func (s *Store) ShardLock(ctx context.Context, task, target string) (job.ShardLock, bool, error) {
	l, _, ok, err := s.getShardLock(ctx, task, target)
	return l, ok, err
}

func (s *Store) getShardLock(ctx context.Context, task, target string) (l job.ShardLock, rev int64, ok bool, err error) {
	key := shardLockKey(task, target)
	var resp *clientv3.GetResponse
	err = retry(ctx, "read shard lock "+task+"/"+target, func(ctx context.Context) error {
		var err error
		resp, err = s.cli.Get(ctx, key)
		return err
	})
	if err != nil || len(resp.Kvs) == 0 {
		return l, 0, false, err
	}
	kv := resp.Kvs[0]
	if err := decodeInto(kv.Key, kv.Value, &l); err != nil {
		return l, 0, false, err
	}
	return l, kv.ModRevision, true, nil
}

// updateShardLock applies f to the lock (absent: ok false) until its
// compare-and-set wins. f returns the new lock, or nil to delete it, and
// whether to write at all.
func (s *Store) updateShardLock(ctx context.Context, task, target, op string, f func(l job.ShardLock, ok bool) (*job.ShardLock, bool)) (job.ShardLock, error) {
	key := shardLockKey(task, target)
	for {
		l, rev, ok, err := s.getShardLock(ctx, task, target)
		if err != nil {
			return l, fmt.Errorf("%s: %w", op, err)
		}
		next, write := f(l, ok)
		if !write {
			return l, nil
		}
		var put clientv3.Op
		if next == nil {
			put = clientv3.OpDelete(key)
		} else {
			val, err := json.Marshal(next)
			if err != nil {
				return l, fmt.Errorf("%s: %w", op, err)
			}
			put = clientv3.OpPut(key, string(val))
		}
		var resp *clientv3.TxnResponse
		err = retry(ctx, op, func(ctx context.Context) error {
			var err error
			resp, err = s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).Then(put).Commit()
			return err
		})
		if err != nil {
			return l, fmt.Errorf("%s: %w", op, err)
		}
		if resp.Succeeded {
			if next == nil {
				return l, nil
			}
			return *next, nil
		}
		if err := ctx.Err(); err != nil {
			return l, err
		}
	}
}

// JoinShardLock records that a shard reached a DDL (job.ShardCoordinator).
// A lock open with another DDL is returned unchanged; one executed is
// replaced by the new DDL's lock.
func (s *Store) JoinShardLock(ctx context.Context, j job.ShardJoin, now time.Time) (job.ShardLock, error) {
	if !validName(j.Task) {
		return job.ShardLock{}, fmt.Errorf("join shard lock of %s: %w", j.Task, ErrInvalid)
	}
	shard := job.ShardName(j.Source, j.Table)
	return s.updateShardLock(ctx, j.Task, j.Target, fmt.Sprintf("join shard lock %s/%s", j.Task, j.Target), func(l job.ShardLock, ok bool) (*job.ShardLock, bool) {
		if ok && l.DDL != j.DDL && !l.Executed {
			return nil, false
		}
		if !ok || l.DDL != j.DDL {
			l = job.ShardLock{Task: j.Task, Target: j.Target, DDL: j.DDL, Since: now.UTC(), Expected: map[string][]string{}, Joined: map[string]time.Time{}}
		}
		_, joined := l.Joined[shard]
		same := joined && slices.Equal(l.Sources, j.Sources) && slices.Equal(l.Expected[j.Source], j.Tables)
		if same && (l.Owner != "" || !j.Force) {
			return nil, false
		}
		l.Sources = slices.Clone(j.Sources)
		l.Expected[j.Source] = slices.Clone(j.Tables)
		if !joined {
			l.Joined[shard] = now.UTC()
		}
		if l.Owner == "" && (j.Force || l.Complete()) {
			l.Owner = shard
		}
		return &l, true
	})
}

// ShardLockDone records that a lock's DDL was executed (or skipped by a
// resolution).
func (s *Store) ShardLockDone(ctx context.Context, task, target, ddl string) error {
	_, err := s.updateShardLock(ctx, task, target, fmt.Sprintf("mark shard lock %s/%s executed", task, target), func(l job.ShardLock, ok bool) (*job.ShardLock, bool) {
		if !ok || l.DDL != ddl || l.Executed {
			return nil, false
		}
		l.Executed = true
		return &l, true
	})
	return err
}

// AckShardLock records that a shard passed an executed lock; the lock is
// deleted when every expected shard has.
func (s *Store) AckShardLock(ctx context.Context, task, target, shard, ddl string) error {
	_, err := s.updateShardLock(ctx, task, target, fmt.Sprintf("acknowledge shard lock %s/%s", task, target), func(l job.ShardLock, ok bool) (*job.ShardLock, bool) {
		if !ok || l.DDL != ddl || !l.Executed || slices.Contains(l.Acked, shard) {
			return nil, false
		}
		l.Acked = append(l.Acked, shard)
		slices.Sort(l.Acked)
		for _, src := range l.Sources {
			for _, t := range l.Expected[src] {
				if !slices.Contains(l.Acked, job.ShardName(src, t)) {
					return &l, true
				}
			}
		}
		return nil, true // every shard passed it
	})
	return err
}

// ShardLocks returns every lock, sorted by task and target.
func (s *Store) ShardLocks(ctx context.Context) ([]job.ShardLock, error) {
	var out []job.ShardLock
	_, err := s.rangeAll(ctx, pfxShard, prefixEnd(pfxShard), 0, func(k, v []byte) error {
		var l job.ShardLock
		if err := decodeInto(k, v, &l); err != nil {
			return err
		}
		out = append(out, l)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read shard locks: %w", err)
	}
	return out, nil
}

// maxShardDeletes is how many deleted tasks' shard records an apply
// deletes in its commit transaction (two operations each); those of more
// are deleted right after it.
const maxShardDeletes = 20

// shardRecordDeletes returns the operations that delete the shard DDL
// locks and optimistic schema records (docs/shard-ddl.md) of the tasks
// writes delete, and the names of deleted tasks beyond maxShardDeletes.
func shardRecordDeletes(writes []kv) (ops []clientv3.Op, later []string) {
	for _, w := range writes {
		name, ok := strings.CutPrefix(w.key, pfxTask)
		if !ok || w.val != nil || strings.Contains(name, "/") {
			continue
		}
		if len(ops) >= 2*maxShardDeletes {
			later = append(later, name)
			continue
		}
		ops = append(ops, clientv3.OpDelete(pfxShard+name+"/", clientv3.WithPrefix()),
			clientv3.OpDelete(pfxSchema+name+"/", clientv3.WithPrefix()))
	}
	return ops, later
}

// deleteShardRecords deletes the shard records of tasks, after the apply
// that deleted them.
func (s *Store) deleteShardRecords(ctx context.Context, tasks []string, log *slog.Logger) {
	for _, name := range tasks {
		err := retry(ctx, "delete the shard records of task "+name, func(ctx context.Context) error {
			_, err := s.cli.Txn(ctx).Then(clientv3.OpDelete(pfxShard+name+"/", clientv3.WithPrefix()),
				clientv3.OpDelete(pfxSchema+name+"/", clientv3.WithPrefix())).Commit()
			return err
		})
		if err != nil {
			log.Warn("delete the shard records of a deleted task: delete "+pfxShard+name+"/ and "+pfxSchema+name+"/ by hand", "task", name, "err", err)
		}
	}
}
