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
	var out []SubtaskStatus
	_, err := s.rangeAll(ctx, pfxStatus, prefixEnd(pfxStatus), 0, func(k, v []byte) error {
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
