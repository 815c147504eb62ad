package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// head is the head key as read: its record and revisions.
type head struct {
	rec    HeadRecord
	modRev int64 // 0 when absent
	// readRev is the store revision the head was read at.
	readRev int64
}

// readHead reads the head key at the latest revision.
func (s *Store) readHead(ctx context.Context) (head, error) {
	var resp *clientv3.GetResponse
	err := retry(ctx, "read head", func(ctx context.Context) error {
		var err error
		resp, err = s.cli.Get(ctx, keyHead)
		return err
	})
	if err != nil {
		return head{}, err
	}
	h := head{readRev: resp.Header.Revision}
	if len(resp.Kvs) == 0 {
		return h, nil
	}
	h.modRev = resp.Kvs[0].ModRevision
	if err := json.Unmarshal(resp.Kvs[0].Value, &h.rec); err != nil || h.rec.Gen == "" {
		return h, fmt.Errorf("read head: %w: %q", ErrCorrupt, resp.Kvs[0].Value)
	}
	return h, nil
}

// Read returns the current state: the head's generation and the live
// workers, all read at the revision the head was read at, so the snapshot
// is consistent however many keys it spans.
func (s *Store) Read(ctx context.Context) (*Snapshot, error) {
	for {
		snap, err := s.read(ctx)
		// The revision was compacted between reading the head and
		// reading its generation: read again at a newer one.
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
	snap := &Snapshot{
		State: emptyState(), Revision: h.modRev, ReadRevision: h.readRev,
		Gen: h.rec.Gen, Head: h.rec,
	}
	if snap.Workers, _, err = s.workersAt(ctx, h.readRev); err != nil {
		return nil, err
	}
	if h.modRev == 0 {
		return snap, nil
	}
	if err := s.readGen(ctx, h.rec.Gen, h.readRev, &snap.State); err != nil {
		return nil, err
	}
	return snap, nil
}

// readGen reads the sources, tasks and bounds of generation gen at rev
// into st, and checks them against the generation's manifest.
func (s *Store) readGen(ctx context.Context, gen string, rev int64, st *planner.State) error {
	var man Manifest
	resp, err := s.get(ctx, "read manifest of generation "+gen, manifestKey(gen), clientv3.WithRev(rev))
	if err != nil {
		return err
	}
	if len(resp.Kvs) == 0 {
		return fmt.Errorf("generation %s has no manifest: %w", gen, ErrCorrupt)
	}
	if err := decodeInto(resp.Kvs[0].Key, resp.Kvs[0].Value, &man); err != nil {
		return err
	}
	var got Counts
	p := genPrefix(gen) + genSource
	if _, err := s.rangeAll(ctx, p, prefixEnd(p), rev, func(k, v []byte) error {
		var src spec.Source
		if err := decodeNamed(k, p, v, &src, &src.Name); err != nil {
			return err
		}
		st.Sources[src.Name] = src
		got.Sources++
		return nil
	}); err != nil {
		return err
	}
	p = genPrefix(gen) + genTask
	if _, err := s.rangeAll(ctx, p, prefixEnd(p), rev, func(k, v []byte) error {
		var t spec.Task
		if err := decodeNamed(k, p, v, &t, &t.Name); err != nil {
			return err
		}
		st.Tasks[t.Name] = t
		got.Tasks++
		return nil
	}); err != nil {
		return err
	}
	p = genPrefix(gen) + genBound
	if _, err := s.rangeAll(ctx, p, prefixEnd(p), rev, func(k, v []byte) error {
		var b BoundValue
		if err := decodeInto(k, v, &b); err != nil {
			return err
		}
		st.Bounds[string(k[len(p):])] = b.Worker
		got.Bounds++
		return nil
	}); err != nil {
		return err
	}
	if got.Sources != man.Counts.Sources || got.Tasks != man.Counts.Tasks || got.Bounds != man.Counts.Bounds {
		return fmt.Errorf("generation %s: read %+v, manifest says %+v: %w", gen, got, man.Counts, ErrCorrupt)
	}
	return nil
}

// decodeNamed decodes a value whose key ends in its name and checks that
// the name inside agrees.
func decodeNamed(key []byte, p string, val []byte, v any, name *string) error {
	if err := decodeInto(key, val, v); err != nil {
		return err
	}
	if want := string(key[len(p):]); *name != want {
		return fmt.Errorf("decode %s: name %q in value: %w", key, *name, ErrCorrupt)
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
		if err := decodeNamed(k, pfxWorker, v, &w, &w.Name); err != nil {
			return err
		}
		out = append(out, w)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read workers: %w", err)
	}
	return out, rev, nil // sorted: keys are read in order
}
