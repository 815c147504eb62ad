package store

import (
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/dmplan/dmplan/units/job"
)

// Optimistic shard DDL records (docs/shard-ddl.md): one key per task and
// merged target table, without a lease, changed by compare-and-set only.

// ShardSchema returns the optimistic record of a target table.
func (s *Store) ShardSchema(ctx context.Context, task, target string) (job.ShardSchema, bool, error) {
	r, _, ok, err := s.getShardSchema(ctx, task, target)
	return r, ok, err
}

func (s *Store) getShardSchema(ctx context.Context, task, target string) (r job.ShardSchema, rev int64, ok bool, err error) {
	key := shardSchemaKey(task, target)
	var resp *clientv3.GetResponse
	err = retry(ctx, "read shard schema "+task+"/"+target, func(ctx context.Context) error {
		var err error
		resp, err = s.cli.Get(ctx, key)
		return err
	})
	if err != nil || len(resp.Kvs) == 0 {
		return r, 0, false, err
	}
	kv := resp.Kvs[0]
	if err := decodeInto(kv.Key, kv.Value, &r); err != nil {
		return r, 0, false, err
	}
	return r, kv.ModRevision, true, nil
}

// UpdateShardSchema applies f until its compare-and-set wins
// (job.ShardSchemas).
func (s *Store) UpdateShardSchema(ctx context.Context, task, target string, f func(r job.ShardSchema, ok bool) (*job.ShardSchema, bool)) (job.ShardSchema, error) {
	op := fmt.Sprintf("update shard schema %s/%s", task, target)
	if !validName(task) {
		return job.ShardSchema{}, fmt.Errorf("%s: %w", op, ErrInvalid)
	}
	key := shardSchemaKey(task, target)
	for {
		r, rev, ok, err := s.getShardSchema(ctx, task, target)
		if err != nil {
			return r, fmt.Errorf("%s: %w", op, err)
		}
		next, write := f(r, ok)
		if !write || next == nil {
			return r, nil
		}
		val, err := json.Marshal(next)
		if err != nil {
			return r, fmt.Errorf("%s: %w", op, err)
		}
		var resp *clientv3.TxnResponse
		err = retry(ctx, op, func(ctx context.Context) error {
			var err error
			resp, err = s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).Then(clientv3.OpPut(key, string(val))).Commit()
			return err
		})
		if err != nil {
			return r, fmt.Errorf("%s: %w", op, err)
		}
		if resp.Succeeded {
			return *next, nil
		}
		if err := ctx.Err(); err != nil {
			return r, err
		}
	}
}

// ShardSchemas returns every optimistic record, sorted by task and target.
func (s *Store) ShardSchemas(ctx context.Context) ([]job.ShardSchema, error) {
	var out []job.ShardSchema
	_, err := s.rangeAll(ctx, pfxSchema, prefixEnd(pfxSchema), 0, func(k, v []byte) error {
		var r job.ShardSchema
		if err := decodeInto(k, v, &r); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read shard schemas: %w", err)
	}
	return out, nil
}
