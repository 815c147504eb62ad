package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// stage writes an encoded state into the claimed generation, in
// transactions small enough for etcd's default limits, a few at a time,
// and the manifest last. Every transaction checks that the claim still
// lives, so nothing is written into a generation GC may be collecting.
func (s *Store) stage(ctx context.Context, st *staging, kvs []kv, man Manifest) error {
	chunks := chunk(kvs)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan int)
	)
	for range min(s.parallel, len(chunks)) {
		wg.Go(func() {
			for i := range next {
				if err := s.writeChunk(ctx, st, i, chunks[i]); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
				}
			}
		})
	}
feed:
	for i := range chunks {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return firstErr
	}
	man.Gen = st.gen
	mv, _ := json.Marshal(man)
	return s.writeChunk(ctx, st, len(chunks), []kv{{genManifest, mv}})
}

// writeChunk puts one group of keys (relative to the generation's prefix)
// in one transaction guarded by the claim. Puts are idempotent, so
// transient failures are simply retried.
func (s *Store) writeChunk(ctx context.Context, st *staging, i int, kvs []kv) error {
	if s.stageHook != nil {
		s.stageHook(i)
	}
	gp := genPrefix(st.gen)
	ops := make([]clientv3.Op, len(kvs))
	for j, e := range kvs {
		ops[j] = clientv3.OpPut(gp+e.key, string(e.val))
	}
	return retry(ctx, fmt.Sprintf("write %d keys from %s", len(kvs), gp+kvs[0].key), func(ctx context.Context) error {
		resp, err := s.cli.Txn(ctx).If(st.claimHeld()).Then(ops...).Commit()
		if err != nil {
			return err
		}
		if !resp.Succeeded {
			return ErrClaimLost
		}
		return nil
	})
}
