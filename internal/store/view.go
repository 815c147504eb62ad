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
	// view: it grows with the worker's own sources, not with the state,
	// and after a small apply with what that apply changed of them).
	Reads int
	// ReadAt is the head revision its objects were read at: a view
	// returned again unchanged (prev) keeps prev's, so a caller can keep
	// what it derived from the view while ReadAt stays.
	ReadAt int64
	// Since is, per subtask, the ReadAt of the view that last read its
	// task or its source: a caller can keep what it derived from one
	// subtask (and its source) while its Since stays.
	Since map[planner.SubtaskID]int64

	tasks map[string]spec.Task // the tasks of Subtasks: what a delta read keeps
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
// worker's bounds. When that apply wrote some of them (a source bound
// here or no longer, a task of its sources changed), only those are read
// again, and the rest of prev is kept: a failover that moves one source
// here costs this worker the reads of that source, not of its whole view.
// A view never changes while the head stays.
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
		Since: map[planner.SubtaskID]int64{}, tasks: map[string]spec.Task{},
	}
	if h.modRev == 0 {
		return v, nil
	}
	next := prev != nil && prev.Gen == h.rec.PrevGen && h.rec.Changed != nil // one small apply since prev
	if prev != nil && (prev.Revision == h.modRev || next && !prev.touched(worker, h.rec.Changed)) {
		same := *prev
		same.Revision, same.Gen, same.Reads = h.modRev, h.rec.Gen, 1
		return &same, nil
	}
	bound := map[string]bool{}
	n := &newest{vis: h.visibility(), f: func(obj string, _ []byte) error {
		bound[obj[len(mine):]] = true
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
	if len(bound) == 0 {
		return v, nil
	}
	if next && prev.tasks != nil {
		if reread, tasks, ok := prev.delta(bound, h.rec.Changed); ok {
			return s.readView(ctx, h, v, prev, bound, reread, tasks)
		}
	}
	return s.readView(ctx, h, v, nil, bound, bound, nil)
}

// delta lists what of v must be read again to serve the bounds after an
// apply that wrote the changed objects: the sources bound now that are
// new to v or whose config or members changed, and the tasks of v that
// changed. ok is false when a changed object is of a kind it does not
// know (read everything then).
func (v *WorkerView) delta(bound map[string]bool, changed []string) (reread, tasks map[string]bool, ok bool) {
	reread, tasks = map[string]bool{}, map[string]bool{}
	for src := range bound {
		if _, ok := v.Sources[src]; !ok {
			reread[src] = true
		}
	}
	for _, c := range changed {
		kind, rest, _ := strings.Cut(c, "/")
		name, _, _ := strings.Cut(rest, "/")
		switch kind {
		case "bound": // this worker's: in bound already
		case "source", "member":
			if bound[name] {
				reread[name] = true
			}
		case "task":
			if _, ok := v.tasks[name]; ok {
				tasks[name] = true
			}
		default:
			return nil, nil, false
		}
	}
	return reread, tasks, true
}

// readView fills v, the view of the sources in bound: it reads the
// configs and members of the sources in reread and the tasks in
// tasks, and those of their tasks that prev does not hold; the rest comes
// from prev (nil: reread is bound, everything is read).
func (s *Store) readView(ctx context.Context, h head, v, prev *WorkerView, bound, reread, tasks map[string]bool) (*WorkerView, error) {
	// The configs and members of the sources read again.
	members := map[string][]string{} // task -> its sources here
	var pfxs []string
	for src := range reread {
		pfxs = append(pfxs, sourceObj(src)+"/", pfxMember+src+"/")
	}
	slices.Sort(pfxs)
	err := s.readPrefixes(ctx, h, pfxs, func(obj string, val []byte) error {
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
	for src := range reread {
		if _, ok := v.Sources[src]; !ok {
			return nil, fmt.Errorf("generation %s binds missing source %q: %w", h.rec.Gen, src, ErrCorrupt)
		}
	}
	if prev != nil { // the sources and members not read again
		for src := range bound {
			if !reread[src] {
				v.Sources[src] = prev.Sources[src]
			}
		}
		for id := range prev.Subtasks {
			if bound[id.Source] && !reread[id.Source] {
				members[id.Task] = append(members[id.Task], id.Source)
			}
		}
	}

	// The tasks that run on them: those that changed, and those prev
	// does not hold.
	pfxs = pfxs[:0]
	for task := range members {
		if _, held := prev.task(task); !held || tasks[task] {
			pfxs = append(pfxs, taskObj(task)+"/")
		}
	}
	slices.Sort(pfxs)
	read := map[string]bool{}
	err = s.readPrefixes(ctx, h, pfxs, func(obj string, val []byte) error {
		var t spec.Task
		if err := decodeNamed(obj, pfxTask, val, &t, &t.Name); err != nil {
			return err
		}
		if _, ok := members[t.Name]; ok {
			v.tasks[t.Name], read[t.Name] = t, true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	v.Reads += len(pfxs)

	for task, srcs := range members {
		t, ok := v.tasks[task]
		if !ok && !tasks[task] {
			t, ok = prev.task(task)
			v.tasks[task] = t
		}
		if !ok {
			return nil, fmt.Errorf("member of missing task %q: %w", task, ErrCorrupt)
		}
		for _, src := range srcs {
			id := planner.SubtaskID{Task: task, Source: src}
			if !read[task] && !reread[src] {
				v.Subtasks[id], v.Since[id] = prev.Subtasks[id], prev.Since[id]
				continue
			}
			if !slices.Contains(t.Sources, src) {
				return nil, fmt.Errorf("member %s/%s: the task does not run on the source: %w", src, task, ErrCorrupt)
			}
			v.Subtasks[id], v.Since[id] = planner.SubtaskOf(t, src), h.modRev
		}
	}
	return v, nil
}

// task returns the task v holds by that name (v may be nil).
func (v *WorkerView) task(name string) (spec.Task, bool) {
	if v == nil {
		return spec.Task{}, false
	}
	t, ok := v.tasks[name]
	return t, ok
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
			if _, ok := v.tasks[name]; ok {
				return true
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
