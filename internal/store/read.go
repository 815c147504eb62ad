package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
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
	return s.ReadLike(ctx, nil)
}

// ReadLike is Read for a caller that holds a state the stored one is
// expected to mostly equal (plan holds the desired state): a source or
// task whose stored value is, byte for byte, the JSON encoding of like's
// object of the same name — what applying that object wrote — is that
// object, and is taken from like instead of decoded. Encoding an object
// and comparing costs a tenth of decoding it (docs/keyspace.md, Cost).
//
// like is called once the stored values are read, and may block until
// its state is ready (plan loads its files while the read runs); an
// error from it ends the read with that error, and a nil state (or a nil
// like) decodes every value. The snapshot's objects then share slices,
// maps and pointers with like's: neither may be changed in place.
func (s *Store) ReadLike(ctx context.Context, like func() (*planner.State, error)) (*Snapshot, error) {
	for {
		snap, err := s.read(ctx, like)
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

func (s *Store) read(ctx context.Context, like func() (*planner.State, error)) (*Snapshot, error) {
	h, err := s.readHead(ctx)
	if err != nil {
		return nil, err
	}
	return s.readLike(ctx, h, like)
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
	return s.readLike(ctx, h, nil)
}

// readLike is readAt taking unchanged objects from like (ReadLike).
func (s *Store) readLike(ctx context.Context, h head, like func() (*planner.State, error)) (*Snapshot, error) {
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
	if err := s.readObjects(ctx, h, &snap.State, like); err != nil {
		return nil, err
	}
	return snap, nil
}

// readObjects reads the sources, tasks and bounds of the state h is the
// head of into st, taking unchanged objects from like (ReadLike), and
// checks them against the head's counts.
func (s *Store) readObjects(ctx context.Context, h head, st *planner.State, like func() (*planner.State, error)) error {
	var got Counts
	// Sized by the head's counts: 100,000 tasks grown by appends would
	// be 10 MB more to allocate.
	rawSources := make([]rawObject, 0, h.rec.Counts.Sources)
	rawTasks := make([]rawObject, 0, h.rec.Counts.Tasks)
	collect := func(raw *[]rawObject) func(obj string, v []byte) error {
		return func(obj string, v []byte) error {
			*raw = append(*raw, rawObject{obj, v})
			return nil
		}
	}
	if err := s.scan(ctx, h, pfxSource, collect(&rawSources)); err != nil {
		return err
	}
	if err := s.scan(ctx, h, pfxTask, collect(&rawTasks)); err != nil {
		return err
	}
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
	var want planner.State
	if like != nil {
		w, err := like()
		if err != nil {
			return err
		}
		if w != nil {
			want = *w
		}
	}
	var err error
	if st.Sources, err = decodeAll(rawSources, pfxSource, func(src *spec.Source) *string { return &src.Name }, want.Sources); err != nil {
		return err
	}
	got.Sources = len(st.Sources)
	if st.Tasks, err = decodeAll(rawTasks, pfxTask, func(t *spec.Task) *string { return &t.Name }, want.Tasks); err != nil {
		return err
	}
	for _, t := range st.Tasks {
		got.Members += len(t.Sources)
	}
	got.Tasks = len(st.Tasks)
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
// name as decodeNamed does, into a map by name. An object whose value is
// the encoding of like's object of its name is that object (ReadLike);
// when every object is, and like has no other, the map is like itself.
func decodeAll[T any](raw []rawObject, p string, name func(*T) *string, like map[string]T) (map[string]T, error) {
	workers := max(1, min(runtime.GOMAXPROCS(0), (len(raw)+255)/256))
	per := (len(raw) + workers - 1) / workers
	// decoded[w] are the values of worker w's share that are not like's,
	// in order; same[i] says raw[i] is like's.
	decoded := make([][]T, workers)
	same := make([]bool, len(raw))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			is := sameAs[T]{like: like}
			for i := w * per; i < min(len(raw), (w+1)*per); i++ {
				n := raw[i].obj[len(p):]
				if obj, ok := is.is(n, raw[i].val); ok && *name(obj) == n {
					same[i] = true
					continue
				}
				var v T
				if err := decodeNamed(raw[i].obj, p, raw[i].val, &v, name(&v)); err != nil {
					errs[w] = err
					return
				}
				decoded[w] = append(decoded[w], v)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if !slices.Contains(same, false) && len(raw) == len(like) && like != nil {
		return like, nil // every object is like's: nothing to build
	}
	out := make(map[string]T, len(raw))
	for w := range workers {
		next := 0
		for i := w * per; i < min(len(raw), (w+1)*per); i++ {
			n := raw[i].obj[len(p):]
			if same[i] {
				out[n] = like[n]
				continue
			}
			v := decoded[w][next]
			next++
			out[*name(&v)] = v
		}
	}
	return out, nil
}

// sameAs finds the objects whose stored value is the encoding of the
// object of the same name in like, with one encoder and buffer for all.
type sameAs[T any] struct {
	like    map[string]T
	buf     bytes.Buffer
	enc     *json.Encoder
	scratch *T // what is encoded: a pointer, so that encoding allocates no copy
}

// is reports whether val is, byte for byte, what json.Marshal makes of
// like[name] (as encodeAll writes it), and returns that object then (in
// a scratch variable, valid until the next call).
// Decoding val would give an object equal to it: the stored types have
// no custom encodings, and the encoding of each field decodes to its
// value, but for a slice or map that is empty but not nil (omitted, or
// "[]", decoded as nil or empty), which every comparison of dmplan's
// treats as the nil one (TestReadLikeIsRead).
func (s *sameAs[T]) is(name string, val []byte) (*T, bool) {
	obj, ok := s.like[name]
	if !ok {
		return nil, false
	}
	if s.enc == nil {
		s.enc, s.scratch = json.NewEncoder(&s.buf), new(T)
	}
	s.buf.Reset()
	*s.scratch = obj
	if s.enc.Encode(s.scratch) != nil { // Marshal's encoding (HTML escaped), and a newline
		return nil, false
	}
	b := s.buf.Bytes()
	return s.scratch, bytes.Equal(b[:len(b)-1], val)
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
