package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// Placement is what deciding the bounds needs, as of one head revision:
// the sources (pins), the bounds and the live workers, but not the tasks.
type Placement struct {
	Revision int64 // the head's revision: the base of a Rebind
	Sources  map[string]spec.Source
	Bounds   map[string]string
	Workers  []planner.Worker
	head     head
}

// ReadPlacement reads the placement of the current state at one revision.
// prev is the placement the caller read last (nil: none): when the head
// has not moved since, or moved by one small apply that changed no source
// and no bound, its sources and bounds are reused and only the workers
// are read.
func (s *Store) ReadPlacement(ctx context.Context, prev *Placement) (*Placement, error) {
	for {
		pl, err := s.readPlacement(ctx, prev)
		if errors.Is(err, rpctypes.ErrCompacted) && ctx.Err() == nil {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read placement: %w", err)
		}
		return pl, nil
	}
}

func (s *Store) readPlacement(ctx context.Context, prev *Placement) (*Placement, error) {
	h, err := s.readHead(ctx)
	if err != nil {
		return nil, err
	}
	pl := &Placement{Revision: h.modRev, Sources: map[string]spec.Source{}, Bounds: map[string]string{}, head: h}
	if pl.Workers, _, err = s.workersAt(ctx, h.readRev); err != nil {
		return nil, err
	}
	if h.modRev == 0 {
		return pl, nil
	}
	if prev != nil && (prev.Revision == h.modRev || prev.head.rec.Gen == h.rec.PrevGen && h.rec.Changed != nil && !placementChanged(h.rec.Changed)) {
		pl.Sources, pl.Bounds = prev.Sources, prev.Bounds
		return pl, nil
	}
	if err := s.scan(ctx, h, pfxSource, func(obj string, v []byte) error {
		var src spec.Source
		if err := decodeNamed(obj, pfxSource, v, &src, &src.Name); err != nil {
			return err
		}
		pl.Sources[src.Name] = src
		return nil
	}); err != nil {
		return nil, err
	}
	if err := s.scan(ctx, h, pfxBound, func(obj string, _ []byte) error {
		seg := lastSegments(obj, pfxBound)
		if len(seg) != 2 {
			return fmt.Errorf("read %s: %w", obj, ErrCorrupt)
		}
		pl.Bounds[seg[1]] = seg[0]
		return nil
	}); err != nil {
		return nil, err
	}
	if len(pl.Sources) != h.rec.Counts.Sources || len(pl.Bounds) != h.rec.Counts.Bounds {
		return nil, fmt.Errorf("generation %s: read %d sources and %d bounds, head says %+v: %w",
			h.rec.Gen, len(pl.Sources), len(pl.Bounds), h.rec.Counts, ErrCorrupt)
	}
	return pl, nil
}

// Rebind makes bounds the bounds of the state pl was read from, changing
// nothing else: an apply that writes only the bounds that move (a
// tombstone under the old worker, a key under the new one). Like Apply it
// is all or nothing, recorded in the history, and fails with ErrStale
// when the head has moved since pl was read. bounds must name sources of
// pl.
func (s *Store) Rebind(ctx context.Context, pl *Placement, bounds map[string]string, rec ApplyRecord) (ApplyRecord, error) {
	for src := range bounds {
		if _, ok := pl.Sources[src]; !ok {
			return rec, fmt.Errorf("rebind: source %q does not exist: %w", src, ErrInvalid)
		}
	}
	writes, err := delta(planner.State{Bounds: pl.Bounds}, planner.State{Bounds: bounds})
	if err != nil {
		return rec, fmt.Errorf("rebind: %w", err)
	}
	rec.BaseRevision = pl.Revision
	b, err := s.begin(ctx, pl.Revision)
	if err != nil {
		return rec, fmt.Errorf("rebind: %w", err)
	}
	if b.head.modRev != pl.Revision {
		return rec, fmt.Errorf("rebind from revision %d: head is at revision %d: %w", pl.Revision, b.head.modRev, ErrStale)
	}
	counts := b.head.rec.Counts
	counts.Bounds = len(bounds)
	if rec.PlanDigest == "" {
		rec.PlanDigest = planDigest(&planner.Plan{BaseRevision: pl.Revision}, writes)
	}
	return s.write(ctx, b, writes, counts, rec)
}

// placementChanged reports whether any of the changed objects is a source
// or a bound.
func placementChanged(changed []string) bool {
	for _, c := range changed {
		if strings.HasPrefix(c, "source/") || strings.HasPrefix(c, "bound/") {
			return true
		}
	}
	return false
}
