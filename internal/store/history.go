package store

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// History returns the last n apply records, newest first (all that are
// kept when n <= 0).
func (s *Store) History(ctx context.Context, n int) ([]ApplyRecord, error) {
	opts := []clientv3.OpOption{
		clientv3.WithRange(prefixEnd(pfxHistory)),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend),
	}
	if n > 0 {
		opts = append(opts, clientv3.WithLimit(int64(n)))
	}
	resp, err := s.get(ctx, "read apply history", pfxHistory, opts...)
	if err != nil {
		return nil, err
	}
	out := make([]ApplyRecord, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var r ApplyRecord
		if err := decodeInto(kv.Key, kv.Value, &r); err != nil {
			return nil, fmt.Errorf("read apply history: %w", err)
		}
		// Written in the head flip, so its first revision is the
		// revision the apply made current.
		r.Revision = kv.CreateRevision
		out = append(out, r)
	}
	return out, nil
}
