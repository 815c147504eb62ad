package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/dmplan/dmplan/planner"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// RegisterWorker registers a live agent under its lease: the registration
// disappears when the lease ends. It fails with ErrWorkerExists when
// another live lease holds the name; registering again under the same
// lease updates the registration.
func (s *Store) RegisterWorker(ctx context.Context, w planner.Worker, lease clientv3.LeaseID) error {
	if !validName(w.Name) {
		return fmt.Errorf("register worker %q: %w", w.Name, ErrInvalid)
	}
	key := workerKey(w.Name)
	val, _ := json.Marshal(w)
	put := clientv3.OpPut(key, string(val), clientv3.WithLease(lease))
	return retry(ctx, fmt.Sprintf("register worker %q", w.Name), func(ctx context.Context) error {
		resp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(put).
			Else(clientv3.OpGet(key)).Commit()
		if err != nil {
			return err
		}
		if resp.Succeeded {
			return nil
		}
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 {
			return errRetryNow // it expired between the compare and the get
		}
		if clientv3.LeaseID(kvs[0].Lease) != lease {
			return ErrWorkerExists
		}
		// Ours already: update it, unless someone took the name meanwhile.
		r, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.LeaseValue(key), "=", lease)).
			Then(put).Commit()
		if err != nil {
			return err
		}
		if !r.Succeeded {
			return errRetryNow
		}
		return nil
	})
}

// UnregisterWorker deletes a worker's registration if it is held by lease
// (an agent that stops cleanly); revoking the lease does the same.
func (s *Store) UnregisterWorker(ctx context.Context, name string, lease clientv3.LeaseID) error {
	key := workerKey(name)
	return retry(ctx, fmt.Sprintf("unregister worker %q", name), func(ctx context.Context) error {
		_, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.LeaseValue(key), "=", lease)).
			Then(clientv3.OpDelete(key)).Commit()
		return err
	})
}
