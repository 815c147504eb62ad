package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
)

func TestHistoryKeepsTheLastN(t *testing.T) {
	s, ctx := fresh(t, store.WithHistoryKeep(3)), testCtx(t)
	if h, err := s.History(ctx, 10); err != nil || len(h) != 0 {
		t.Fatalf("history of an empty store: %v (err %v)", h, err)
	}
	var (
		base int64
		recs []store.ApplyRecord
	)
	for i := range 5 {
		p := plan(base, genState(2, 2, i+1))
		p.Changes = []planner.Change{
			{Kind: planner.KindTask, Name: "a", Action: planner.Create},
			{Kind: planner.KindTask, Name: "b", Action: planner.Update},
			{Kind: planner.KindSource, Name: "c", Action: planner.Delete},
		}
		rec := record(fmt.Sprint("user", i))
		rec.Time = rec.Time.Add(time.Duration(i) * time.Minute)
		got, err := s.Apply(ctx, p, rec)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, got)
		base = got.Revision
	}
	h, err := s.History(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 {
		t.Fatalf("history holds %d records, want the last 3", len(h))
	}
	for i, r := range h {
		want := recs[4-i] // newest first
		if r != want {
			t.Errorf("history[%d] = %+v\nwant %+v", i, r, want)
		}
	}
	if h[0].Seq != 5 || h[0].User != "user4" || h[0].Summary != (planner.Summary{Create: 1, Update: 1, Delete: 1}) ||
		h[0].GitCommit != "abc123" || h[0].Revision != base {
		t.Errorf("newest record = %+v", h[0])
	}
	if h1, err := s.History(ctx, 1); err != nil || len(h1) != 1 || h1[0].Seq != 5 {
		t.Errorf("History(1) = %+v (err %v), want only seq 5", h1, err)
	}
}
