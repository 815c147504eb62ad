package store

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// GC deletes generations that are neither the head's, nor the previous
// head's, nor claimed by a live staging key (an apply in flight). It
// returns the IDs it deleted. Each deletion is one transaction that checks
// that the head has not moved and that no claim exists, so GC never
// deletes what another apply is staging or has just made current.
func (s *Store) GC(ctx context.Context) ([]string, error) {
	h, err := s.readHead(ctx)
	if err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	gens, err := s.generations(ctx)
	if err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	var deleted []string
	for _, g := range gens {
		if g == h.rec.Gen || g == h.rec.PrevGen {
			continue
		}
		p := genPrefix(g)
		var ok bool
		err := retry(ctx, "gc: delete generation "+g, func(ctx context.Context) error {
			resp, err := s.cli.Txn(ctx).
				If(clientv3.Compare(clientv3.ModRevision(keyHead), "=", h.modRev),
					clientv3.Compare(clientv3.CreateRevision(stagingKey(g)), "=", 0)).
				Then(clientv3.OpDelete(p, clientv3.WithRange(prefixEnd(p)))).
				Commit()
			if err == nil {
				ok = resp.Succeeded
			}
			return err
		})
		if err != nil {
			return deleted, err
		}
		if ok {
			deleted = append(deleted, g)
		}
	}
	return deleted, nil
}

// generations lists the IDs of the generations present, in order, with one
// keys-only read per generation (it skips over each generation's keys).
func (s *Store) generations(ctx context.Context) ([]string, error) {
	var out []string
	from, end := pfxGen, prefixEnd(pfxGen)
	for {
		resp, err := s.get(ctx, "list generations", from,
			clientv3.WithRange(end), clientv3.WithKeysOnly(), clientv3.WithLimit(1))
		if err != nil {
			return nil, err
		}
		if len(resp.Kvs) == 0 {
			return out, nil
		}
		g, ok := genFromKey(string(resp.Kvs[0].Key))
		if !ok {
			return nil, fmt.Errorf("list generations: unexpected key %q: %w", resp.Kvs[0].Key, ErrCorrupt)
		}
		out = append(out, g)
		from = prefixEnd(genPrefix(g))
	}
}
