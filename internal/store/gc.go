package store

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// GC finishes what crashed or losing appliers left behind: it collects
// open generations whose staging claim is gone (their applier died or
// gave up: they never become current) and sweeps the logs of committed
// generations whose applier died before sweeping. It returns the IDs of
// the generations it collected. Every deletion checks that the generation
// is still open, so GC never deletes what an apply has made current, and
// it leaves generations with a live claim (an apply in flight) alone.
func (s *Store) GC(ctx context.Context) ([]string, error) {
	open, err := s.gens(ctx, pfxOpen, false)
	if err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	var collected []string
	for _, g := range open {
		resp, err := s.get(ctx, "gc: read the claim of generation "+g, stagingKey(g), clientv3.WithCountOnly())
		if err != nil {
			return collected, fmt.Errorf("gc: %w", err)
		}
		if resp.Count > 0 {
			continue // an apply in flight
		}
		if err := s.collect(ctx, g); err != nil {
			return collected, fmt.Errorf("gc: %w", err)
		}
		collected = append(collected, g)
	}
	logged, err := s.gens(ctx, pfxLog, true)
	if err != nil {
		return collected, fmt.Errorf("gc: %w", err)
	}
	isOpen := map[string]bool{}
	for _, g := range open {
		isOpen[g] = true
	}
	for _, g := range logged {
		if isOpen[g] {
			continue // collected above, or in flight
		}
		if err := s.sweep(ctx, g); err != nil {
			return collected, fmt.Errorf("gc: %w", err)
		}
	}
	return collected, nil
}

// gens lists the generation IDs under p (open/<gen>, or log/<gen>/...
// with nested, skipping over each generation's keys).
func (s *Store) gens(ctx context.Context, p string, nested bool) ([]string, error) {
	var out []string
	from, end := p, prefixEnd(p)
	for {
		resp, err := s.get(ctx, "list "+p, from, clientv3.WithRange(end), clientv3.WithKeysOnly(), clientv3.WithLimit(1))
		if err != nil {
			return nil, err
		}
		if len(resp.Kvs) == 0 {
			return out, nil
		}
		seg := lastSegments(string(resp.Kvs[0].Key), p)
		if len(seg[0]) != numWidth || len(seg) != map[bool]int{false: 1, true: 2}[nested] {
			return nil, fmt.Errorf("list %s: unexpected key %q: %w", p, resp.Kvs[0].Key, ErrCorrupt)
		}
		out = append(out, seg[0])
		if nested {
			from = prefixEnd(logPrefix(seg[0]))
		} else {
			from = string(resp.Kvs[0].Key) + "\x00"
		}
	}
}

// OpenGenerations lists the generations staged but not made current (an
// apply in flight, or litter GC will collect).
func (s *Store) OpenGenerations(ctx context.Context) ([]string, error) {
	return s.gens(ctx, pfxOpen, false)
}

// logs reads the log chunks of generation gen.
func (s *Store) logs(ctx context.Context, gen string) (map[string]logChunk, error) {
	out := map[string]logChunk{}
	p := logPrefix(gen)
	_, err := s.rangeAll(ctx, p, prefixEnd(p), 0, func(k, v []byte) error {
		var lc logChunk
		if err := decodeInto(k, v, &lc); err != nil {
			return err
		}
		out[string(k)] = lc
		return nil
	})
	return out, err
}

// sweep deletes the versions that committed generation gen superseded
// (and its own tombstones), one transaction per log chunk that names any,
// then gen's logs. It is idempotent, and checks that gen is not open.
func (s *Store) sweep(ctx context.Context, gen string) error {
	chunks, err := s.logs(ctx, gen)
	if err != nil {
		return fmt.Errorf("sweep generation %s: %w", gen, err)
	}
	closed := clientv3.Compare(clientv3.CreateRevision(openKey(gen)), "=", 0)
	run := func(ops ...clientv3.Op) (bool, error) {
		var ok bool
		err := retry(ctx, "sweep generation "+gen, func(ctx context.Context) error {
			resp, err := s.cli.Txn(ctx).If(closed).Then(ops...).Commit()
			if err == nil {
				ok = resp.Succeeded
			}
			return err
		})
		return ok, err
	}
	for _, lc := range chunks {
		if len(lc.Put)+len(lc.Del) == 0 {
			continue
		}
		ops := make([]clientv3.Op, 0, len(lc.Put)+len(lc.Del))
		for _, obj := range lc.Put {
			ops = append(ops, supersede(kv{key: obj, val: present, old: true}, gen))
		}
		for _, obj := range lc.Del {
			ops = append(ops, supersede(kv{key: obj, old: true}, gen))
		}
		if ok, err := run(ops...); err != nil || !ok {
			return err // !ok: open, an apply in flight, not ours to sweep
		}
	}
	p := logPrefix(gen)
	_, err = run(clientv3.OpDelete(p, clientv3.WithRange(prefixEnd(p))))
	return err
}

// collect deletes open generation gen: its claim first (so its applier
// can neither write more nor make it current), then the versions its logs
// name, the logs, and last the open mark. Every step checks that gen is
// still open.
func (s *Store) collect(ctx context.Context, gen string) error {
	isOpen := clientv3.Compare(clientv3.CreateRevision(openKey(gen)), ">", 0)
	run := func(op string, ops ...clientv3.Op) error {
		return retry(ctx, op, func(ctx context.Context) error {
			_, err := s.cli.Txn(ctx).If(isOpen).Then(ops...).Commit()
			return err
		})
	}
	if err := run("drop the claim of generation "+gen, clientv3.OpDelete(stagingKey(gen))); err != nil {
		return err
	}
	chunks, err := s.logs(ctx, gen)
	if err != nil {
		return fmt.Errorf("collect generation %s: %w", gen, err)
	}
	for key, lc := range chunks {
		ops := make([]clientv3.Op, 0, len(lc.Put)+len(lc.Del)+1)
		for _, obj := range slices.Concat(lc.New, lc.Put, lc.Del) {
			ops = append(ops, clientv3.OpDelete(versionKey(obj, gen)))
		}
		ops = append(ops, clientv3.OpDelete(key))
		if err := run("collect generation "+gen, ops...); err != nil {
			return err
		}
	}
	return run("close generation "+gen, clientv3.OpDelete(openKey(gen)))
}

// discard collects a generation that did not become current, with a
// short context of its own (the apply's may have ended). If it fails, GC
// collects the generation once the claim's lease has expired.
func (s *Store) discard(gen string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.collect(ctx, gen); err != nil {
		log.Warn("discard staged generation: GC will collect it", "err", err)
	}
}
