package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/reconciler"
	"github.com/dmplan/dmplan/spec"
)

// fakeClock is a clock that moves only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	d  time.Duration
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), d: d, ch: ch})
	return ch
}

// advance moves the clock on by d and fires the timers that are due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.ch <- c.now
	}
	c.timers = kept
}

// pending reports whether a timer of at most d is waiting.
func (c *fakeClock) pending(d time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.timers {
		if t.d <= d {
			return true
		}
	}
	return false
}

// TestPublisherLeadingEdge: the first stage change after a quiet spell is
// written at once (the clock never moves, so a delay would never end),
// while the changes that follow it within statusGather are gathered into
// one transaction written when the window ends.
func TestPublisherLeadingEdge(t *testing.T) {
	clean(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := &fakeClock{now: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)}
	a := &agent{
		cfg: Config{Name: "pub", Clock: clock, StatusInterval: DefaultStatusInterval},
		log: slog.New(slog.DiscardHandler), store: store.New(etcd.Client),
	}
	lease, err := etcd.Client.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	p := newPublisher(a, lease.ID)
	done := make(chan struct{})
	go func() { p.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	running := func(src string) reconciler.Status {
		return reconciler.Status{ID: planner.SubtaskID{Task: "burst", Source: src}, Stage: spec.StageRunning, ConfigFingerprint: "c1"}
	}
	modRev := func(src string) int64 {
		resp, err := etcd.Client.Get(ctx, "/dmplan/v1/status/burst/"+src)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) == 0 {
			return 0
		}
		return resp.Kvs[0].ModRevision
	}

	// Quiet: the first change is written without the clock moving (once
	// the publisher waits for its periodic tick, so that its first flush
	// cannot be what writes it).
	waitFor(t, 10*time.Second, "the publisher to idle", func() bool { return clock.pending(DefaultStatusInterval / 5) })
	p.report(running("first"), true)
	waitFor(t, 10*time.Second, "the first change written at once", func() bool { return modRev("first") != 0 })
	st, _ := statusOf(t, "burst/first")
	if st.ConfigFingerprint != "c1" {
		t.Fatalf("status %+v: want configFingerprint c1", st)
	}

	// A burst within the window: nothing is written until it ends, then
	// all of it in one transaction.
	srcs := make([]string, 100)
	for i := range srcs {
		srcs[i] = fmt.Sprintf("s%03d", i)
		p.report(running(srcs[i]), true)
	}
	waitFor(t, 10*time.Second, "the publisher to gather", func() bool { return clock.pending(statusGather) })
	for _, src := range srcs {
		if modRev(src) != 0 {
			t.Fatalf("status of %s written inside the gather window", src)
		}
	}
	clock.advance(statusGather)
	waitFor(t, 10*time.Second, "the burst written", func() bool { return modRev(srcs[len(srcs)-1]) != 0 })
	rev := modRev(srcs[0])
	for _, src := range srcs {
		if r := modRev(src); r != rev {
			t.Fatalf("the burst took more than one transaction: %s at revision %d, %s at %d", srcs[0], rev, src, r)
		}
	}

	// Quiet again: the next change is written at once.
	clock.advance(statusGather)
	st0 := running("first")
	st0.Stage = reconciler.StageFinished
	p.report(st0, true)
	waitFor(t, 10*time.Second, "a change after a quiet spell written at once", func() bool {
		st, _ := statusOf(t, "burst/first")
		return st.Stage == reconciler.StageFinished
	})
}
