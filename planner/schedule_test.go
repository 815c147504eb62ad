package planner

import (
	"fmt"
	"testing"

	"github.com/dmplan/dmplan/spec"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func sources(pins map[string]string) map[string]spec.Source {
	out := map[string]spec.Source{}
	for name, pin := range pins {
		out[name] = spec.Source{Name: name, Worker: pin}
	}
	return out
}

func workers(names ...string) []Worker {
	var out []Worker
	for _, n := range names {
		out = append(out, Worker{Name: n})
	}
	return out
}

func TestSchedule(t *testing.T) {
	tests := []struct {
		name        string
		sources     map[string]string // source -> pin
		current     map[string]string
		workers     []Worker
		wantBounds  map[string]string
		wantWaiting []string
	}{
		{
			name:       "pinned to a live agent",
			sources:    map[string]string{"s1": "b"},
			workers:    workers("a", "b"),
			wantBounds: map[string]string{"s1": "b"},
		},
		{
			name:        "pinned to an agent that is not live waits, never falls back",
			sources:     map[string]string{"s1": "x"},
			current:     map[string]string{"s1": "a"},
			workers:     workers("a"),
			wantBounds:  map[string]string{},
			wantWaiting: []string{"s1"},
		},
		{
			name:       "keeps a live current bound even when unbalanced",
			sources:    map[string]string{"s1": "", "s2": "", "s3": ""},
			current:    map[string]string{"s1": "a", "s2": "a", "s3": "a"},
			workers:    workers("a", "b"),
			wantBounds: map[string]string{"s1": "a", "s2": "a", "s3": "a"},
		},
		{
			name:       "fewest bounds first, ties by name, in source order",
			sources:    map[string]string{"s1": "", "s2": "", "s3": "", "s4": ""},
			workers:    workers("c", "a", "b"),
			wantBounds: map[string]string{"s1": "a", "s2": "b", "s3": "c", "s4": "a"},
		},
		{
			name:       "kept and pinned bounds count towards the load",
			sources:    map[string]string{"p": "a", "k": "", "n1": "", "n2": ""},
			current:    map[string]string{"k": "a"},
			workers:    workers("a", "b"),
			wantBounds: map[string]string{"p": "a", "k": "a", "n1": "b", "n2": "b"},
		},
		{
			name:       "a bound to an agent that is gone moves",
			sources:    map[string]string{"s1": "", "s2": ""},
			current:    map[string]string{"s1": "gone", "s2": "b"},
			workers:    workers("a", "b"),
			wantBounds: map[string]string{"s1": "a", "s2": "b"},
		},
		{
			name:        "no live agent: everyone waits",
			sources:     map[string]string{"s2": "", "s1": "a", "s3": ""},
			current:     map[string]string{"s2": "a"},
			wantBounds:  map[string]string{},
			wantWaiting: []string{"s1", "s2", "s3"},
		},
		{
			name:       "current bounds of removed sources are ignored",
			sources:    map[string]string{"s1": ""},
			current:    map[string]string{"old": "a"},
			workers:    workers("a", "b"),
			wantBounds: map[string]string{"s1": "a"},
		},
		{
			name:       "duplicate worker registrations count once",
			sources:    map[string]string{"s1": "", "s2": ""},
			workers:    workers("a", "a", "b"),
			wantBounds: map[string]string{"s1": "a", "s2": "b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, w := Schedule(sources(tt.sources), tt.current, tt.workers)
			if diff := cmp.Diff(tt.wantBounds, b); diff != "" {
				t.Errorf("bounds (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantWaiting, w, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("waiting (-want +got):\n%s", diff)
			}
		})
	}
}

// TestScheduleBalanced checks the spread of many new sources and that a
// second run with the result as current moves nothing.
func TestScheduleBalanced(t *testing.T) {
	src := map[string]spec.Source{}
	for i := range 1000 {
		n := fmt.Sprintf("s%04d", i)
		src[n] = spec.Source{Name: n}
	}
	ws := workers("a", "b", "c", "d", "e", "f", "g")
	b, w := Schedule(src, nil, ws)
	if len(w) != 0 {
		t.Fatalf("waiting = %v", w)
	}
	load := map[string]int{}
	for _, a := range b {
		load[a]++
	}
	for _, x := range ws {
		if n := load[x.Name]; n < 1000/7 || n > 1000/7+1 {
			t.Errorf("agent %s has %d sources, want %d or %d", x.Name, n, 1000/7, 1000/7+1)
		}
	}
	again, _ := Schedule(src, b, ws)
	if diff := cmp.Diff(b, again); diff != "" {
		t.Errorf("rescheduling moved sources (-first +second):\n%s", diff)
	}
}
