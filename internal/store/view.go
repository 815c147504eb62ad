package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

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
	// Reads is the number of range reads it took (the cost of the
	// view: it grows with the worker's own sources, not with the state).
	Reads int
	// ReadAt is the head revision its objects were read at: a view
	// returned again unchanged (prev) keeps prev's, so a caller can keep
	// what it derived from the view while ReadAt stays.
	ReadAt int64
}

// ReadWorkerView reads the part of the current state that worker serves,
// at one revision: its bounds, then the configs and members of those
// sources, then the tasks they run. It reads nothing of other workers'
// sources.
//
// prev is the view the caller read last (nil: none). When the head has
// not moved since, or moved by one small apply (HeadRecord.Changed) that
// wrote none of prev's objects, prev is still the worker's view: it is
// returned (with the new revision) after one read of the head and the
// worker's bounds. A view never changes while the head stays.
func (s *Store) ReadWorkerView(ctx context.Context, worker string, prev *WorkerView) (*WorkerView, error) {
	for {
		v, err := s.readWorkerView(ctx, worker, prev)
		if errors.Is(err, rpctypes.ErrCompacted) && ctx.Err() == nil {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read view of worker %q: %w", worker, err)
		}
		return v, nil
	}
}

func (s *Store) readWorkerView(ctx context.Context, worker string, prev *WorkerView) (*WorkerView, error) {
	mine := pfxBound + worker + "/"
	var resp *clientv3.TxnResponse
	err := retry(ctx, "read head and bounds", func(ctx context.Context) error {
		var err error
		resp, err = s.cli.Txn(ctx).Then(
			clientv3.OpGet(keyHead),
			clientv3.OpGet(pfxOpen, clientv3.WithPrefix(), clientv3.WithKeysOnly()),
			clientv3.OpGet(mine, clientv3.WithPrefix()),
		).Commit()
		return err
	})
	if err != nil {
		return nil, err
	}
	h, err := headFrom(resp.Responses[0].GetResponseRange().Kvs, resp.Header.Revision)
	if err != nil {
		return nil, err
	}
	h.open = map[string]bool{}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		h.open[string(kv.Key[len(pfxOpen):])] = true
	}
	v := &WorkerView{
		Revision: h.modRev, Gen: h.rec.Gen, Reads: 3, ReadAt: h.modRev,
		Sources: map[string]spec.Source{}, Subtasks: map[planner.SubtaskID]planner.Subtask{},
	}
	if h.modRev == 0 {
		return v, nil
	}
	if prev != nil && (prev.Revision == h.modRev ||
		prev.Gen == h.rec.PrevGen && h.rec.Changed != nil && !prev.touched(worker, h.rec.Changed)) {
		same := *prev
		same.Revision, same.Gen, same.Reads = h.modRev, h.rec.Gen, 1
		return &same, nil
	}
	var sources []string
	n := &newest{vis: h.visibility(), f: func(obj string, _ []byte) error {
		sources = append(sources, obj[len(mine):])
		return nil
	}}
	for _, kv := range resp.Responses[2].GetResponseRange().Kvs {
		if err := n.add(kv.Key, kv.Value); err != nil {
			return nil, err
		}
	}
	if err := n.flush(); err != nil {
		return nil, err
	}
	if len(sources) == 0 {
		return v, nil
	}

	// The configs and members of the worker's sources.
	members := map[string][]string{} // task -> its sources here
	var pfxs []string
	for _, src := range sources {
		pfxs = append(pfxs, sourceObj(src)+"/", pfxMember+src+"/")
	}
	err = s.readPrefixes(ctx, h, pfxs, func(obj string, val []byte) error {
		if name, ok := cutPrefix(obj, pfxSource); ok {
			var src spec.Source
			if err := decodeNamed(obj, pfxSource, val, &src, &src.Name); err != nil {
				return err
			}
			v.Sources[name] = src
			return nil
		}
		seg := lastSegments(obj, pfxMember)
		if len(seg) != 2 {
			return fmt.Errorf("read %s: %w", obj, ErrCorrupt)
		}
		members[seg[1]] = append(members[seg[1]], seg[0])
		return nil
	})
	if err != nil {
		return nil, err
	}
	v.Reads += len(pfxs)
	for _, src := range sources {
		if _, ok := v.Sources[src]; !ok {
			return nil, fmt.Errorf("generation %s binds missing source %q: %w", h.rec.Gen, src, ErrCorrupt)
		}
	}

	// The tasks that run on them.
	pfxs = pfxs[:0]
	for task := range members {
		pfxs = append(pfxs, taskObj(task)+"/")
	}
	slices.Sort(pfxs)
	err = s.readPrefixes(ctx, h, pfxs, func(obj string, val []byte) error {
		var t spec.Task
		if err := decodeNamed(obj, pfxTask, val, &t, &t.Name); err != nil {
			return err
		}
		for _, src := range members[t.Name] {
			if !slices.Contains(t.Sources, src) {
				return fmt.Errorf("member %s/%s: the task does not run on the source: %w", src, t.Name, ErrCorrupt)
			}
			v.Subtasks[planner.SubtaskID{Task: t.Name, Source: src}] = planner.SubtaskOf(t, src)
		}
		delete(members, t.Name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	v.Reads += len(pfxs)
	for task := range members {
		return nil, fmt.Errorf("member of missing task %q: %w", task, ErrCorrupt)
	}
	return v, nil
}

// touched reports whether any of the objects changed (keys after the
// prefix) is part of v, the view of worker.
func (v *WorkerView) touched(worker string, changed []string) bool {
	for _, c := range changed {
		kind, rest, _ := strings.Cut(c, "/")
		name, _, _ := strings.Cut(rest, "/")
		switch kind {
		case "bound":
			if name == worker {
				return true
			}
		case "source", "member":
			if _, ok := v.Sources[name]; ok {
				return true
			}
		case "task":
			for id := range v.Subtasks {
				if id.Task == name {
					return true
				}
			}
		default:
			return true
		}
	}
	return false
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) < len(p) || s[:len(p)] != p {
		return "", false
	}
	return s[len(p):], true
}

// readPrefixes reads every key under each of pfxs (each holding the
// versions of one or more objects) at h's revision, in transactions of at
// most maxOpsPerTxn ranges, calling f with each object's newest visible
// value.
func (s *Store) readPrefixes(ctx context.Context, h head, pfxs []string, f func(obj string, val []byte) error) error {
	for len(pfxs) > 0 {
		batch := pfxs[:min(len(pfxs), maxOpsPerTxn)]
		pfxs = pfxs[len(batch):]
		ops := make([]clientv3.Op, len(batch))
		for i, p := range batch {
			ops[i] = clientv3.OpGet(p, clientv3.WithPrefix(), clientv3.WithRev(h.readRev))
		}
		var resp *clientv3.TxnResponse
		err := retry(ctx, fmt.Sprintf("read %d prefixes from %s", len(batch), batch[0]), func(ctx context.Context) error {
			var err error
			resp, err = s.cli.Txn(ctx).Then(ops...).Commit()
			return err
		})
		if err != nil {
			return err
		}
		for _, r := range resp.Responses {
			n := &newest{vis: h.visibility(), f: f}
			for _, kv := range r.GetResponseRange().Kvs {
				if err := n.add(kv.Key, kv.Value); err != nil {
					return err
				}
			}
			if err := n.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}
