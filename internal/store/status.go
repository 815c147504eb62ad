package store

import (
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// PutStatus writes what an agent observes about one subtask, attached to
// the agent's lease so it disappears with the agent.
func (s *Store) PutStatus(ctx context.Context, lease clientv3.LeaseID, st SubtaskStatus) error {
	if !validName(st.Task) || !validName(st.Source) {
		return fmt.Errorf("put status of %s/%s: %w", st.Task, st.Source, ErrInvalid)
	}
	val, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("put status of %s/%s: %w", st.Task, st.Source, err)
	}
	return retry(ctx, fmt.Sprintf("put status of %s/%s", st.Task, st.Source), func(ctx context.Context) error {
		_, err := s.cli.Put(ctx, statusKey(st.Task, st.Source), string(val), clientv3.WithLease(lease))
		return err
	})
}

// PutStatuses writes several statuses under lease, in as few transactions
// as etcd's default limits allow (one raft entry each, instead of one per
// status). It returns the statuses it could not write, with the error.
func (s *Store) PutStatuses(ctx context.Context, lease clientv3.LeaseID, sts []SubtaskStatus) ([]SubtaskStatus, error) {
	var (
		ops   []clientv3.Op
		from  int // sts[from:] are not written yet
		bytes int
	)
	flush := func(to int) error {
		if len(ops) == 0 {
			return nil
		}
		first := sts[from]
		err := retry(ctx, fmt.Sprintf("put %d statuses from %s/%s", len(ops), first.Task, first.Source), func(ctx context.Context) error {
			_, err := s.cli.Txn(ctx).Then(ops...).Commit()
			return err
		})
		if err == nil {
			ops, from, bytes = ops[:0], to, 0
		}
		return err
	}
	for i, st := range sts {
		if !validName(st.Task) || !validName(st.Source) {
			return sts[from:], fmt.Errorf("put status of %s/%s: %w", st.Task, st.Source, ErrInvalid)
		}
		val, err := json.Marshal(st)
		if err != nil {
			return sts[from:], fmt.Errorf("put status of %s/%s: %w", st.Task, st.Source, err)
		}
		key := statusKey(st.Task, st.Source)
		if len(ops) >= maxOpsPerTxn || bytes+len(key)+len(val) > maxBytesPerTxn/2 {
			if err := flush(i); err != nil {
				return sts[from:], err
			}
		}
		ops = append(ops, clientv3.OpPut(key, string(val), clientv3.WithLease(lease)))
		bytes += len(key) + len(val)
	}
	if err := flush(len(sts)); err != nil {
		return sts[from:], err
	}
	return nil, nil
}

// DeleteStatus removes the status of a subtask an agent no longer runs.
func (s *Store) DeleteStatus(ctx context.Context, task, source string) error {
	return retry(ctx, fmt.Sprintf("delete status of %s/%s", task, source), func(ctx context.Context) error {
		_, err := s.cli.Delete(ctx, statusKey(task, source))
		return err
	})
}

// Statuses returns every reported subtask status, sorted by task and
// source.
func (s *Store) Statuses(ctx context.Context) ([]SubtaskStatus, error) {
	return s.StatusesOf(ctx, "")
}

// StatusesOf returns the reported statuses of task's subtasks ("": of
// every task), sorted by task and source: it reads those keys only.
func (s *Store) StatusesOf(ctx context.Context, task string) ([]SubtaskStatus, error) {
	var out []SubtaskStatus
	p := statusPrefix(task)
	_, err := s.rangeAll(ctx, p, prefixEnd(p), 0, func(k, v []byte) error {
		var st SubtaskStatus
		if err := decodeInto(k, v, &st); err != nil {
			return err
		}
		if seg := lastSegments(string(k), pfxStatus); len(seg) != 2 || seg[0] != st.Task || seg[1] != st.Source {
			return fmt.Errorf("decode %s: names %s/%s in value: %w", k, st.Task, st.Source, ErrCorrupt)
		}
		out = append(out, st)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read statuses: %w", err)
	}
	return out, nil
}

// DeleteOwnStatus removes the status of a subtask an agent no longer runs,
// if it is still the one the agent wrote under lease (the source has not
// moved to another agent that reported already).
func (s *Store) DeleteOwnStatus(ctx context.Context, lease clientv3.LeaseID, task, source string) error {
	key := statusKey(task, source)
	return retry(ctx, fmt.Sprintf("delete status of %s/%s", task, source), func(ctx context.Context) error {
		_, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.LeaseValue(key), "=", lease)).
			Then(clientv3.OpDelete(key)).Commit()
		return err
	})
}

// WatchStatuses calls f with every reported subtask status, then with each
// status written or deleted (deleted: only Task and Source are set), until
// ctx ends; it returns ctx's error, or the error of a read or watch that
// failed. It reads the statuses once, then follows etcd's events: an
// observer of thousands of subtasks costs one read, not one per poll.
func (s *Store) WatchStatuses(ctx context.Context, f func(st SubtaskStatus, deleted bool)) error {
	rev, err := s.rangeAll(ctx, pfxStatus, prefixEnd(pfxStatus), 0, func(k, v []byte) error {
		var st SubtaskStatus
		if err := decodeInto(k, v, &st); err != nil {
			return err
		}
		f(st, false)
		return nil
	})
	if err != nil {
		return fmt.Errorf("watch statuses: %w", err)
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for wr := range s.cli.Watch(wctx, pfxStatus, clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
		if err := wr.Err(); err != nil {
			return fmt.Errorf("watch statuses: %w", err)
		}
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete {
				seg := lastSegments(string(ev.Kv.Key), pfxStatus)
				if len(seg) == 2 {
					f(SubtaskStatus{Task: seg[0], Source: seg[1]}, true)
				}
				continue
			}
			var st SubtaskStatus
			if err := decodeInto(ev.Kv.Key, ev.Kv.Value, &st); err != nil {
				return fmt.Errorf("watch statuses: %w", err)
			}
			f(st, false)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("watch statuses: the watch ended")
}
