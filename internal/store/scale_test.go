package store_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/google/go-cmp/cmp"
)

// headerRev is the store's current revision.
func headerRev(t testing.TB) int64 {
	t.Helper()
	resp, err := etcd.Client.Get(context.Background(), store.KeyHead)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

// TestOneTaskChangeWritesOneKey: changing one task of a 2,000-task state
// writes one version, in the transaction that makes it current (two
// revisions in all: the generation ID and the commit), and leaves one
// version per object.
func TestOneTaskChangeWritesOneKey(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	first := genState(200, 2000, 1)
	if _, err := s.Apply(ctx, plan(0, first), record("alice")); err != nil {
		t.Fatal(err)
	}
	snap, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := genState(200, 2000, 1)
	tk := want.Tasks["task-01234"]
	tk.Tables = append(tk.Tables, "extra.*")
	want.Tasks[tk.Name] = tk

	before := headerRev(t)
	rec, err := s.ApplyOnto(ctx, plan(snap.Revision, want), &snap.State, record("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Keys != 1 {
		t.Errorf("a one-task change wrote %d versions, want 1", rec.Keys)
	}
	if n := headerRev(t) - before; n != 2 {
		t.Errorf("a one-task change took %d revisions, want 2 (allocate, commit)", n)
	}
	got, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got.State); d != "" {
		t.Errorf("state after a one-task change (-want +got):\n%s", d)
	}
	if n := keyCount(t, etcd.Client, store.PfxTask); n != 2000 {
		t.Errorf("%d task versions, want 2000 (the superseded one swept)", n)
	}

	// Apply, reading the base itself, finds the same single change.
	tk.Tables = tk.Tables[:len(tk.Tables)-1]
	want.Tasks[tk.Name] = tk
	rec, err = s.Apply(ctx, plan(got.Revision, want), record("alice"))
	if err != nil || rec.Keys != 1 {
		t.Fatalf("undo the change: %d versions written (err %v), want 1", rec.Keys, err)
	}

	// An agent reads its own sources, their members and their tasks:
	// ranges in proportion to what it serves, not to the state.
	v, err := s.ReadWorkerView(ctx, "agent-3", nil)
	if err != nil {
		t.Fatal(err)
	}
	tasks := map[string]bool{}
	for id := range v.Subtasks {
		tasks[id.Task] = true
	}
	if wantReads := 3 + 2*len(v.Sources) + len(tasks); v.Reads != wantReads || len(v.Sources) != 20 {
		t.Errorf("agent-3's view: %d reads for %d sources and %d tasks, want %d", v.Reads, len(v.Sources), len(tasks), wantReads)
	}
}

// TestRebindWritesTheBoundsThatMove: moving the sources of one worker is
// one apply of their bounds: a tombstone and a new key each, nothing
// else; a rebind from an old placement is stale.
func TestRebindWritesTheBoundsThatMove(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	st := genState(100, 300, 1)
	if _, err := s.Apply(ctx, plan(0, st), record("alice")); err != nil {
		t.Fatal(err)
	}
	pl, err := s.ReadPlacement(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(pl.Bounds, st.Bounds) || !cmp.Equal(pl.Sources, st.Sources) {
		t.Fatal("placement differs from the applied state")
	}
	bounds := maps.Clone(pl.Bounds)
	moved := 0
	for src, w := range bounds {
		if w == "agent-0" {
			bounds[src] = "agent-1"
			moved++
		}
	}
	rec, err := s.Rebind(ctx, pl, bounds, record("agent:agent-1"))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Keys != 2*moved || moved != 10 {
		t.Errorf("moving %d sources wrote %d versions, want %d", moved, rec.Keys, 2*moved)
	}
	snap, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := st
	want.Bounds = bounds
	if d := cmp.Diff(want, snap.State); d != "" {
		t.Errorf("state after rebind (-want +got):\n%s", d)
	}
	if hist, err := s.History(ctx, 1); err != nil || len(hist) != 1 || hist[0].User != "agent:agent-1" {
		t.Errorf("history after rebind: %+v (err %v)", hist, err)
	}
	if _, err := s.Rebind(ctx, pl, st.Bounds, record("late")); !errors.Is(err, store.ErrStale) {
		t.Errorf("rebind from an old placement: error %v, want ErrStale", err)
	}
}

// TestWorkerViewFollowsOnlyItsOwnChanges: after a small apply that wrote
// nothing of an agent's, its view is reused after one read; after one
// that wrote one of its tasks, it is read again and shows the change.
// Either way it equals a view read from scratch.
func TestWorkerViewFollowsOnlyItsOwnChanges(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	st := genState(50, 200, 1)
	rec, err := s.Apply(ctx, plan(0, st), record("alice"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.ReadWorkerView(ctx, "agent-3", nil)
	if err != nil {
		t.Fatal(err)
	}
	var mine, other string // a task on agent-3's sources, one on none of them
	for name, tk := range st.Tasks {
		on := false
		for _, src := range tk.Sources {
			on = on || st.Bounds[src] == "agent-3"
		}
		if on && mine == "" {
			mine = name
		} else if !on && other == "" {
			other = name
		}
	}
	for _, tc := range []struct {
		task   string
		reread bool
	}{{other, false}, {mine, true}} {
		tk := st.Tasks[tc.task]
		tk.Tables = append(tk.Tables, "more.*")
		st.Tasks[tc.task] = tk
		if rec, err = s.Apply(ctx, plan(rec.Revision, st), record("alice")); err != nil {
			t.Fatal(err)
		}
		got, err := s.ReadWorkerView(ctx, "agent-3", v)
		if err != nil {
			t.Fatal(err)
		}
		if (got.Reads > 1) != tc.reread || got.Revision != rec.Revision {
			t.Errorf("after a change of task %s: %d reads at revision %d, want re-read %v at %d", tc.task, got.Reads, got.Revision, tc.reread, rec.Revision)
		}
		scratch, err := s.ReadWorkerView(ctx, "agent-3", nil)
		if err != nil {
			t.Fatal(err)
		}
		if !cmp.Equal(got.Subtasks, scratch.Subtasks) || !cmp.Equal(got.Sources, scratch.Sources) {
			t.Errorf("after a change of task %s: the view differs from one read from scratch", tc.task)
		}
		v = got
	}
}

// TestRebindOfADeadWorkerIsOneTransaction: when every source of a worker
// moves (it died), its hundred bounds go in one range delete, and the
// whole rebind is one transaction: two revisions (the generation ID and
// the commit), no staging, and nothing left under the dead worker.
func TestRebindOfADeadWorkerIsOneTransaction(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	st := genState(1000, 100, 1) // 100 sources on each of agent-0..agent-9
	if _, err := s.Apply(ctx, plan(0, st), record("alice")); err != nil {
		t.Fatal(err)
	}
	pl, err := s.ReadPlacement(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	bounds := maps.Clone(pl.Bounds)
	moved := 0
	for src, w := range bounds {
		if w == "agent-0" {
			bounds[src] = fmt.Sprintf("agent-%d", 1+moved%9)
			moved++
		}
	}
	before := headerRev(t)
	rec, err := s.Rebind(ctx, pl, bounds, record("agent:agent-1"))
	if err != nil {
		t.Fatal(err)
	}
	if n := headerRev(t) - before; n != 2 || moved != 100 || rec.Keys != 200 {
		t.Errorf("moving the %d sources of a dead worker: %d versions in %d revisions, want 200 in 2 (allocate, commit)", moved, rec.Keys, n)
	}
	if n := keyCount(t, etcd.Client, store.PfxBound+"agent-0/"); n != 0 {
		t.Errorf("%d keys left under the dead worker's bounds", n)
	}
	snap, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := st
	want.Bounds = bounds
	if d := cmp.Diff(want, snap.State); d != "" {
		t.Errorf("state after rebind (-want +got):\n%s", d)
	}
	v, err := s.ReadWorkerView(ctx, "agent-0", nil)
	if err != nil || len(v.Sources) != 0 {
		t.Errorf("the dead worker's view: %d sources (err %v), want none", len(v.Sources), err)
	}
}

// TestWorkerViewReadsOnlyWhatChanged: after a small apply that wrote some
// of an agent's objects — a source moved to it or away (a failover), a
// source's config, a task added to, changed on or removed from its
// sources — the agent reads only those again, keeps the rest, and gets the
// view it would read from scratch. A subtask keeps its Since only when
// nothing it derives from changed.
func TestWorkerViewReadsOnlyWhatChanged(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	st := genState(50, 200, 1) // 5 sources on each of agent-0..agent-9
	rec, err := s.Apply(ctx, plan(0, st), record("alice"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.ReadWorkerView(ctx, "agent-3", nil)
	if err != nil {
		t.Fatal(err)
	}
	first := func(worker string) string { // a source bound to worker
		for _, src := range slices.Sorted(maps.Keys(st.Bounds)) {
			if st.Bounds[src] == worker {
				return src
			}
		}
		t.Fatalf("no source on %s", worker)
		return ""
	}
	taskOn := func(src string) string { // a task running on src
		for _, name := range slices.Sorted(maps.Keys(st.Tasks)) {
			if slices.Contains(st.Tasks[name].Sources, src) {
				return name
			}
		}
		t.Fatalf("no task on %s", src)
		return ""
	}
	apply := func() {
		t.Helper()
		if rec, err = s.Apply(ctx, plan(rec.Revision, st), record("alice")); err != nil {
			t.Fatal(err)
		}
	}
	newTasks := 0
	steps := []struct {
		name   string
		change func()
		reads  int // ranges read after the head and bounds: what changed, not the view (-2: the moved source and newTasks)
	}{
		{"a source moved here", func() {
			pl, err := s.ReadPlacement(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			bounds := maps.Clone(pl.Bounds)
			moved := first("agent-4")
			bounds[moved] = "agent-3"
			st.Bounds = bounds
			newTasks = 0 // its tasks that agent-3 runs on none of its sources: read too
			for _, tk := range st.Tasks {
				if slices.Contains(tk.Sources, moved) && !slices.ContainsFunc(tk.Sources, func(s string) bool { return v.Sources[s].Name != "" }) {
					newTasks++
				}
			}
			if rec, err = s.Rebind(ctx, pl, bounds, record("agent:agent-1")); err != nil {
				t.Fatal(err)
			}
		}, -2},
		{"a source moved away", func() {
			st.Bounds = maps.Clone(st.Bounds)
			st.Bounds[first("agent-3")] = "agent-5"
			apply()
		}, 0},
		{"a source's config", func() {
			src := st.Sources[first("agent-3")]
			src.Port++
			st.Sources[src.Name] = src
			apply()
		}, 2},
		{"a task added", func() {
			tk := st.Tasks[taskOn(first("agent-3"))]
			tk.Name = "task-new"
			st.Tasks[tk.Name] = tk
			apply()
		}, -1},
		{"a task changed", func() {
			tk := st.Tasks[taskOn(first("agent-3"))]
			tk.Tables = append(tk.Tables, "more.*")
			st.Tasks[tk.Name] = tk
			apply()
		}, 1},
		{"a task removed", func() {
			delete(st.Tasks, "task-new")
			apply()
		}, -1},
	}
	for _, step := range steps {
		step.change()
		got, err := s.ReadWorkerView(ctx, "agent-3", v)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		scratch, err := s.ReadWorkerView(ctx, "agent-3", nil)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(scratch.Subtasks, got.Subtasks); d != "" {
			t.Errorf("%s: subtasks differ from a view read from scratch (-scratch +got):\n%s", step.name, d)
		}
		if d := cmp.Diff(scratch.Sources, got.Sources); d != "" {
			t.Errorf("%s: sources differ from a view read from scratch (-scratch +got):\n%s", step.name, d)
		}
		if step.reads == -2 {
			step.reads = 2 + newTasks
		}
		if step.reads >= 0 && got.Reads != 3+step.reads {
			t.Errorf("%s: %d reads, want %d (the head and bounds, then what changed)", step.name, got.Reads, 3+step.reads)
		}
		if got.Reads >= scratch.Reads {
			t.Errorf("%s: %d reads, as many as from scratch (%d)", step.name, got.Reads, scratch.Reads)
		}
		kept := 0
		for id, sub := range got.Subtasks {
			if got.Since[id] != v.Since[id] {
				continue
			}
			kept++
			if !cmp.Equal(sub, v.Subtasks[id]) || !cmp.Equal(got.Sources[id.Source], v.Sources[id.Source]) {
				t.Errorf("%s: subtask %v changed but kept its Since", step.name, id)
			}
		}
		if kept == 0 {
			t.Errorf("%s: no subtask kept its Since", step.name)
		}
		v = got
	}
}
