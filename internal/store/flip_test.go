package store_test

import (
	"context"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/dmplan/dmplan/internal/store"
)

// TestFlipReplyLost: the head flip lands but its reply is lost; the apply
// retries, recognises its own flip and succeeds (not "stale").
func TestFlipReplyLost(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	lost := 0
	store.SetFlipHook(s, func(succeeded bool) error {
		if succeeded && lost == 0 {
			lost++
			return rpctypes.ErrTimeout // the txn committed; the client never hears
		}
		return nil
	})
	rec, err := s.Apply(ctx, plan(0, genState(3, 3, 1)), record("alice"))
	if err != nil {
		t.Fatalf("apply with a lost flip reply: %v", err)
	}
	if lost != 1 || rec.Seq != 1 || rec.Revision == 0 {
		t.Fatalf("lost %d replies; record %+v", lost, rec)
	}
	snap, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Revision != rec.Revision {
		t.Errorf("head at revision %d, the apply says %d", snap.Revision, rec.Revision)
	}
}

// TestFlipReplyLostThenMovedOn: the flip lands, its reply is lost, and
// before the retry another apply moves the head on. The retry still
// recognises its own flip from the history record, and reports success.
func TestFlipReplyLostThenMovedOn(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	other := store.New(etcd.Client, store.WithLogger(testLogger()))
	var otherErr error
	store.SetFlipHook(s, func(succeeded bool) error {
		if !succeeded || otherErr != nil {
			return nil
		}
		snap, err := other.Read(context.Background())
		if err == nil {
			_, err = other.Apply(context.Background(), plan(snap.Revision, genState(3, 3, 2)), record("bob"))
		}
		if err != nil {
			otherErr = err
			return nil
		}
		otherErr = context.Canceled // done: no second time
		return rpctypes.ErrTimeout
	})
	rec, err := s.Apply(ctx, plan(0, genState(3, 3, 1)), record("alice"))
	if otherErr != context.Canceled {
		t.Fatalf("the other apply: %v", otherErr)
	}
	if err != nil {
		t.Fatalf("apply whose flip landed before another apply: %v", err)
	}
	hist, err := s.History(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[1].User != "alice" || hist[0].User != "bob" || rec.Seq != 1 || rec.Revision != hist[1].Revision {
		t.Errorf("record %+v, history %+v", rec, hist)
	}
}

// TestSavedPlanAppliedTwice: applying a saved plan again (the first reply
// was lost, the user retried) is recognised as the same apply.
func TestSavedPlanAppliedTwice(t *testing.T) {
	s, ctx := fresh(t), testCtx(t)
	p := plan(0, genState(3, 3, 1))
	first, err := s.Apply(ctx, p, record("alice"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Apply(ctx, p, record("alice"))
	if err != nil {
		t.Fatalf("the same saved plan applied again: %v", err)
	}
	if !again.Again || again.Seq != first.Seq || again.Revision != first.Revision {
		t.Errorf("again %+v, first %+v", again, first)
	}
	if hist, _ := s.History(ctx, 0); len(hist) != 1 {
		t.Errorf("history has %d records, want 1", len(hist))
	}
	// Another plan from the same base is stale.
	if _, err := s.Apply(ctx, plan(0, genState(3, 3, 2)), record("bob")); err == nil {
		t.Error("a different plan from an old base was applied")
	}
}
