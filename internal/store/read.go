package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// head is the head key as read: its record and revisions, and which
// generations were open at that revision.
type head struct {
	rec    HeadRecord
	modRev int64 // 0 when absent
	// readRev is the store revision the head was read at.
	readRev int64
	open    map[string]bool
}

func (h head) visibility() visibility { return visibility{head: h.rec.Gen, open: h.open} }

// headFrom decodes the head key as read at revision rev.
func headFrom(kvs []*mvccpb.KeyValue, rev int64) (head, error) {
	h := head{readRev: rev}
	if len(kvs) == 0 {
		return h, nil
	}
	h.modRev = kvs[0].ModRevision
	if err := json.Unmarshal(kvs[0].Value, &h.rec); err != nil || h.rec.Gen == "" {
		return h, fmt.Errorf("read head: %w: %q", ErrCorrupt, kvs[0].Value)
	}
	return h, nil
}

// readHead reads the head key and the open generations, at the latest
// revision, in one transaction.
func (s *Store) readHead(ctx context.Context) (head, error) {
	var resp *clientv3.TxnResponse
	err := retry(ctx, "read head", func(ctx context.Context) error {
		var err error
		resp, err = s.cli.Txn(ctx).Then(
			clientv3.OpGet(keyHead),
			clientv3.OpGet(pfxOpen, clientv3.WithPrefix(), clientv3.WithKeysOnly()),
		).Commit()
		return err
	})
	if err != nil {
		return head{}, err
	}
	h, err := headFrom(resp.Responses[0].GetResponseRange().Kvs, resp.Header.Revision)
	if err != nil {
		return h, err
	}
	h.open = map[string]bool{}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		h.open[string(kv.Key[len(pfxOpen):])] = true
	}
	return h, nil
}

// Read returns the current state: the head's sources, tasks and bounds
// and the live workers, all read at the revision the head was read at, so
// the snapshot is consistent however many keys it spans.
func (s *Store) Read(ctx context.Context) (*Snapshot, error) {
	for {
		snap, err := s.read(ctx)
		// The revision was compacted between reading the head and
		// reading the objects: read again at a newer one.
		if errors.Is(err, rpctypes.ErrCompacted) && ctx.Err() == nil {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read state: %w", err)
		}
		return snap, nil
	}
}

func (s *Store) read(ctx context.Context) (*Snapshot, error) {
	h, err := s.readHead(ctx)
	if err != nil {
		return nil, err
	}
	return s.readAt(ctx, h)
}

// readAtRevision reads the state as it was at store revision rev (from
// etcd's history: it fails once rev is compacted).
func (s *Store) readAtRevision(ctx context.Context, rev int64) (*Snapshot, error) {
	if rev == 0 {
		return &Snapshot{State: emptyState()}, nil
	}
	var resp *clientv3.TxnResponse
	err := retry(ctx, fmt.Sprintf("read head at revision %d", rev), func(ctx context.Context) error {
		var err error
		resp, err = s.cli.Txn(ctx).Then(
			clientv3.OpGet(keyHead, clientv3.WithRev(rev)),
			clientv3.OpGet(pfxOpen, clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithRev(rev)),
		).Commit()
		return err
	})
	if err != nil {
		return nil, err
	}
	h, err := headFrom(resp.Responses[0].GetResponseRange().Kvs, rev)
	if err != nil {
		return nil, err
	}
	h.open = map[string]bool{}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		h.open[string(kv.Key[len(pfxOpen):])] = true
	}
	return s.readAt(ctx, h)
}

// readAt reads the state h is the head of, at h's revision.
func (s *Store) readAt(ctx context.Context, h head) (*Snapshot, error) {
	snap := &Snapshot{
		State: emptyState(), Revision: h.modRev, ReadRevision: h.readRev,
		Gen: h.rec.Gen, Head: h.rec,
	}
	var err error
	if snap.Workers, _, err = s.workersAt(ctx, h.readRev); err != nil {
		return nil, err
	}
	if h.modRev == 0 {
		return snap, nil
	}
	if err := s.readObjects(ctx, h, &snap.State); err != nil {
		return nil, err
	}
	return snap, nil
}

// readObjects reads the sources, tasks and bounds of the state h is the
// head of into st, and checks them against the head's counts.
func (s *Store) readObjects(ctx context.Context, h head, st *planner.State) error {
	var got Counts
	var raw []rawObject
	collect := func(obj string, v []byte) error {
		raw = append(raw, rawObject{obj, v})
		return nil
	}
	if err := s.scan(ctx, h, pfxSource, collect); err != nil {
		return err
	}
	sources, err := decodeAll(raw, pfxSource, func(src *spec.Source) *string { return &src.Name })
	if err != nil {
		return err
	}
	if len(st.Sources) == 0 {
		st.Sources = make(map[string]spec.Source, len(sources))
	}
	for _, src := range sources {
		st.Sources[src.Name] = src
	}
	got.Sources = len(sources)
	raw = raw[:0]
	if err := s.scan(ctx, h, pfxTask, collect); err != nil {
		return err
	}
	tasks, err := decodeAll(raw, pfxTask, func(t *spec.Task) *string { return &t.Name })
	if err != nil {
		return err
	}
	if len(st.Tasks) == 0 {
		st.Tasks = make(map[string]spec.Task, len(tasks))
	}
	for _, t := range tasks {
		st.Tasks[t.Name] = t
		got.Members += len(t.Sources)
	}
	got.Tasks = len(tasks)
	if err := s.scan(ctx, h, pfxBound, func(obj string, _ []byte) error {
		seg := lastSegments(obj, pfxBound)
		if len(seg) != 2 {
			return fmt.Errorf("read %s: %w", obj, ErrCorrupt)
		}
		if w, dup := st.Bounds[seg[1]]; dup {
			return fmt.Errorf("source %s is bound to both %s and %s: %w", seg[1], w, seg[0], ErrCorrupt)
		}
		st.Bounds[seg[1]] = seg[0]
		got.Bounds++
		return nil
	}); err != nil {
		return err
	}
	if got != h.rec.Counts {
		return fmt.Errorf("generation %s: read %+v, head says %+v: %w", h.rec.Gen, got, h.rec.Counts, ErrCorrupt)
	}
	return nil
}

// scan reads the objects under p of the state h is the head of, at h's
// revision, calling f with each object key and its newest visible value.
func (s *Store) scan(ctx context.Context, h head, p string, f func(obj string, val []byte) error) error {
	n := &newest{vis: h.visibility(), f: f}
	if _, err := s.rangeAll(ctx, p, prefixEnd(p), h.readRev, n.add); err != nil {
		return err
	}
	return n.flush()
}

// rawObject is an object key and its value as read.
type rawObject struct {
	obj string
	val []byte
}

// decodeAll decodes the values of objects under p on every core (a state
// of 100,000 tasks is a second of JSON decoding on one), checking each
// name as decodeNamed does; the result is in the order of raw.
func decodeAll[T any](raw []rawObject, p string, name func(*T) *string) ([]T, error) {
	out := make([]T, len(raw))
	workers := min(runtime.GOMAXPROCS(0), (len(raw)+255)/256)
	if workers <= 1 {
		for i, r := range raw {
			if err := decodeNamed(r.obj, p, r.val, &out[i], name(&out[i])); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	per := (len(raw) + workers - 1) / workers
	for w := range workers {
		wg.Go(func() {
			for i := w * per; i < min(len(raw), (w+1)*per); i++ {
				if err := decodeNamed(raw[i].obj, p, raw[i].val, &out[i], name(&out[i])); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// decodeNamed decodes the value of object obj (under p, named after its
// object) and checks that the name inside agrees.
func decodeNamed(obj, p string, val []byte, v any, name *string) error {
	if err := json.Unmarshal(val, v); err != nil { // as decodeInto, without a copy of obj
		return fmt.Errorf("decode %s: %w: %v", obj, ErrCorrupt, err)
	}
	if want := obj[len(p):]; *name != want {
		return fmt.Errorf("decode %s: name %q in value: %w", obj, *name, ErrCorrupt)
	}
	return nil
}

// get is a single Get with retries.
func (s *Store) get(ctx context.Context, op, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	var resp *clientv3.GetResponse
	err := retry(ctx, op, func(ctx context.Context) error {
		var err error
		resp, err = s.cli.Get(ctx, key, opts...)
		return err
	})
	return resp, err
}

// Workers returns the live worker registrations, sorted by name.
func (s *Store) Workers(ctx context.Context) ([]planner.Worker, error) {
	ws, _, err := s.workersAt(ctx, 0)
	return ws, err
}

// workersAt reads the workers at rev (0: latest) and returns the revision
// read at.
func (s *Store) workersAt(ctx context.Context, rev int64) ([]planner.Worker, int64, error) {
	var out []planner.Worker
	rev, err := s.rangeAll(ctx, pfxWorker, prefixEnd(pfxWorker), rev, func(k, v []byte) error {
		var w planner.Worker
		if err := decodeInto(k, v, &w); err != nil {
			return err
		}
		if want := string(k[len(pfxWorker):]); w.Name != want {
			return fmt.Errorf("decode %s: name %q in value: %w", k, w.Name, ErrCorrupt)
		}
		out = append(out, w)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read workers: %w", err)
	}
	return out, rev, nil // sorted: keys are read in order
}
