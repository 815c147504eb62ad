package store_test

import (
	"fmt"
	"maps"
	"testing"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
)

// Benchmarks of a big state: 1,000 sources and 10,000 tasks (20,000
// subtasks). Run with
//
//	go test ./internal/store -run '^$' -bench . -benchtime 5x
//
// MB/s counts key and value bytes written (apply) or read (read).

func benchStates() [2]planner.State {
	return [2]planner.State{genState(1000, 10000, 1), genState(1000, 10000, 2)}
}

func BenchmarkApply(b *testing.B) {
	states := benchStates()
	all, _ := store.EncodedSize(states[0])
	for _, par := range []int{1, 4, 8} {
		b.Run(fmt.Sprintf("parallel=%d", par), func(b *testing.B) {
			s := fresh(b, store.WithParallel(par))
			ctx := testCtx(b)
			var base int64
			b.SetBytes(all)
			b.ResetTimer()
			for i := range b.N {
				rec, err := s.Apply(ctx, plan(base, states[i%2]), record("bench"))
				if err != nil {
					b.Fatal(err)
				}
				base = rec.Revision
			}
		})
	}
}

func BenchmarkRead(b *testing.B) {
	states := benchStates()
	_, read := store.EncodedSize(states[0])
	s, ctx := fresh(b), testCtx(b)
	if _, err := s.Apply(ctx, plan(0, states[0]), record("bench")); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(read)
	b.ResetTimer()
	for range b.N {
		snap, err := s.Read(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(snap.State.Tasks) != 10000 {
			b.Fatalf("read %d tasks", len(snap.State.Tasks))
		}
	}
}

// BenchmarkOneTaskApply applies a one-task change to a state of 1,000
// sources and 10,000 tasks, as `dmplan apply -f` does after planning
// (ApplyOnto with the state it planned from).
func BenchmarkOneTaskApply(b *testing.B) {
	s, ctx := fresh(b), testCtx(b)
	st := genState(1000, 10000, 1)
	rec, err := s.Apply(ctx, plan(0, st), record("bench"))
	if err != nil {
		b.Fatal(err)
	}
	base := st
	b.ResetTimer()
	for i := range b.N {
		want := planner.State{Sources: base.Sources, Tasks: maps.Clone(base.Tasks), Bounds: base.Bounds}
		t := want.Tasks["task-00042"]
		t.Dump.Threads = i + 10
		want.Tasks[t.Name] = t
		if rec, err = s.ApplyOnto(ctx, plan(rec.Revision, want), &base, record("bench")); err != nil {
			b.Fatal(err)
		}
		if rec.Keys != 1 {
			b.Fatalf("%d versions written", rec.Keys)
		}
		base = want
	}
}
