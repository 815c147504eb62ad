package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// WorkerView is what one agent runs, as of one head revision: the sources
// bound to it and their subtasks with desired stages.
type WorkerView struct {
	Revision int64 // the head's revision; 0 when nothing was applied
	Gen      string
	Sources  map[string]spec.Source                // sources bound to the worker
	Subtasks map[planner.SubtaskID]planner.Subtask // Stage filled in
}

// ReadWorkerView reads the part of the current generation that worker
// serves, at one revision.
func (s *Store) ReadWorkerView(ctx context.Context, worker string) (*WorkerView, error) {
	for {
		v, err := s.readWorkerView(ctx, worker)
		if errors.Is(err, rpctypes.ErrCompacted) && ctx.Err() == nil {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read view of worker %q: %w", worker, err)
		}
		return v, nil
	}
}

func (s *Store) readWorkerView(ctx context.Context, worker string) (*WorkerView, error) {
	h, err := s.readHead(ctx)
	if err != nil {
		return nil, err
	}
	v := &WorkerView{
		Revision: h.modRev, Gen: h.rec.Gen,
		Sources: map[string]spec.Source{}, Subtasks: map[planner.SubtaskID]planner.Subtask{},
	}
	if h.modRev == 0 {
		return v, nil
	}
	rev, gp := h.readRev, genPrefix(h.rec.Gen)

	mine := map[string]bool{}
	p := gp + genBound
	if _, err := s.rangeAll(ctx, p, prefixEnd(p), rev, func(k, val []byte) error {
		var b BoundValue
		if err := decodeInto(k, val, &b); err != nil {
			return err
		}
		if b.Worker == worker {
			mine[string(k[len(p):])] = true
		}
		return nil
	}); err != nil {
		return nil, err
	}
	for name := range mine {
		resp, err := s.get(ctx, "read source "+name, gp+genSource+name, clientv3.WithRev(rev))
		if err != nil {
			return nil, err
		}
		if len(resp.Kvs) == 0 {
			return nil, fmt.Errorf("generation %s binds missing source %q: %w", h.rec.Gen, name, ErrCorrupt)
		}
		var src spec.Source
		if err := decodeInto(resp.Kvs[0].Key, resp.Kvs[0].Value, &src); err != nil {
			return nil, err
		}
		v.Sources[name] = src
	}
	if len(mine) == 0 {
		return v, nil
	}
	p = gp + genSubtask
	if _, err := s.rangeAll(ctx, p, prefixEnd(p), rev, func(k, val []byte) error {
		seg := lastSegments(string(k), p)
		if len(seg) != 2 || !mine[seg[1]] {
			return nil
		}
		var sub planner.Subtask
		if err := decodeInto(k, val, &sub); err != nil {
			return err
		}
		v.Subtasks[planner.SubtaskID{Task: sub.Task, Source: sub.Source}] = sub
		return nil
	}); err != nil {
		return nil, err
	}
	p = gp + genStage
	if _, err := s.rangeAll(ctx, p, prefixEnd(p), rev, func(k, val []byte) error {
		seg := lastSegments(string(k), p)
		if len(seg) != 2 || !mine[seg[1]] {
			return nil
		}
		id := planner.SubtaskID{Task: seg[0], Source: seg[1]}
		sub, ok := v.Subtasks[id]
		if !ok {
			return fmt.Errorf("stage %s has no subtask: %w", k, ErrCorrupt)
		}
		var sv StageValue
		if err := decodeInto(k, val, &sv); err != nil {
			return err
		}
		sub.Stage = sv.Stage
		v.Subtasks[id] = sub
		return nil
	}); err != nil {
		return nil, err
	}
	return v, nil
}
