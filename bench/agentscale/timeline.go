package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// timeline records when the steps of a reaction happened, from watches of
// its own on the head and the worker keys (raw etcd watches: events, no
// reads) and from the observer: the head moved (an apply committed), a
// worker's key was deleted (its lease expired), the first and the last
// subtask observed running.
type timeline struct {
	mu    sync.Mutex
	marks map[string]time.Time
}

func newTimeline(ctx context.Context, cli *clientv3.Client, obs *observer, sim *simulation) *timeline {
	tl := &timeline{marks: map[string]time.Time{}}
	go func() {
		for resp := range cli.Watch(ctx, "/dmplan/v1/head") {
			if len(resp.Events) > 0 {
				tl.mark("head moved (apply committed)")
			}
		}
	}()
	go func() {
		for resp := range cli.Watch(ctx, "/dmplan/v1/worker/", clientv3.WithPrefix()) {
			for _, ev := range resp.Events {
				if ev.Type == clientv3.EventTypeDelete {
					tl.mark("worker key deleted: " + strings.TrimPrefix(string(ev.Kv.Key), "/dmplan/v1/worker/"))
				}
			}
		}
	}()
	obs.onChange = func(running int) {
		if running > 0 {
			tl.mark("first status observed running")
		}
	}
	return tl
}

// mark records the first time of what.
func (tl *timeline) mark(what string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if _, ok := tl.marks[what]; !ok {
		tl.marks[what] = time.Now()
	}
}

func (tl *timeline) reset() {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.marks = map[string]time.Time{}
}

// print lists the marks in time order, relative to t0.
func (tl *timeline) print(indent string, t0 time.Time) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	type m struct {
		what string
		at   time.Time
	}
	var ms []m
	for w, at := range tl.marks {
		ms = append(ms, m{w, at})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].at.Before(ms[j].at) })
	for _, x := range ms {
		fmt.Printf("%s  %7.0f ms  %s\n", indent, float64(x.at.Sub(t0))/float64(time.Millisecond), x.what)
	}
}
