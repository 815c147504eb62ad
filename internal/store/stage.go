package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// logChunk is the value of a log key: the objects one staging transaction
// wrote a first version of (New), a version superseding an older one
// (Put) or a tombstone for (Del). After the commit the log says which
// older versions to sweep; if the generation never becomes current, it
// says which versions to collect.
type logChunk struct {
	New []string `json:"new,omitempty"`
	Put []string `json:"put,omitempty"`
	Del []string `json:"del,omitempty"`
}

// stage writes the versions of an open generation, in transactions small
// enough for etcd's default limits, a few at a time, each with its log.
// Every transaction checks that the claim still lives, so nothing is
// written into a generation GC may be collecting.
func (s *Store) stage(ctx context.Context, st *staging, writes []kv) error {
	chunks := chunk(writes, 1)

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
	return firstErr
}

// writeChunk puts one group of versions and its log in one transaction
// guarded by the claim. Puts are idempotent, so transient failures are
// simply retried.
func (s *Store) writeChunk(ctx context.Context, st *staging, i int, kvs []kv) error {
	if s.stageHook != nil {
		s.stageHook(i)
	}
	ops := make([]clientv3.Op, 0, len(kvs)+1)
	var lc logChunk
	for _, e := range kvs {
		ops = append(ops, clientv3.OpPut(versionKey(e.key, st.gen), string(e.val)))
		switch {
		case e.val == nil:
			lc.Del = append(lc.Del, e.key)
		case e.old:
			lc.Put = append(lc.Put, e.key)
		default:
			lc.New = append(lc.New, e.key)
		}
	}
	lv, _ := json.Marshal(lc)
	ops = append(ops, clientv3.OpPut(logKey(st.gen, i), string(lv)))
	return retry(ctx, fmt.Sprintf("write %d keys from %s", len(kvs), kvs[0].key), func(ctx context.Context) error {
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
