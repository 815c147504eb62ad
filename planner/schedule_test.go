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
		relayOn     []string // sources with spec.relay.enabled
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
		{
			name:       "a relay source moving off a dead agent goes to the live agent holding its relay",
			sources:    map[string]string{"s1": "", "s2": ""},
			current:    map[string]string{"s1": "gone", "s2": "gone"},
			workers:    []Worker{{Name: "a"}, {Name: "b"}, {Name: "c", Relays: []string{"s1"}}},
			relayOn:    []string{"s1", "s2"},
			wantBounds: map[string]string{"s1": "c", "s2": "a"},
		},
		{
			name:       "the relay holder is preferred even when it is the most loaded",
			sources:    map[string]string{"k1": "", "k2": "", "s1": ""},
			current:    map[string]string{"k1": "b", "k2": "b"},
			workers:    []Worker{{Name: "a"}, {Name: "b", Relays: []string{"s1"}}},
			relayOn:    []string{"s1"},
			wantBounds: map[string]string{"k1": "b", "k2": "b", "s1": "b"},
		},
		{
			name:       "among holders, the least loaded, ties by name",
			sources:    map[string]string{"k1": "", "s1": "", "s2": ""},
			current:    map[string]string{"k1": "a"},
			workers:    []Worker{{Name: "a", Relays: []string{"s1", "s2"}}, {Name: "c", Relays: []string{"s1", "s2"}}, {Name: "b", Relays: []string{"s1"}}},
			relayOn:    []string{"s1", "s2"},
			wantBounds: map[string]string{"k1": "a", "s1": "b", "s2": "c"},
		},
		{
			name:       "a relay directory of a source whose relay is off is no reason",
			sources:    map[string]string{"s1": ""},
			workers:    []Worker{{Name: "a"}, {Name: "b", Relays: []string{"s1"}}},
			wantBounds: map[string]string{"s1": "a"},
		},
		{
			name:       "a live current bound is kept over a relay holder",
			sources:    map[string]string{"s1": ""},
			current:    map[string]string{"s1": "a"},
			workers:    []Worker{{Name: "a"}, {Name: "b", Relays: []string{"s1"}}},
			relayOn:    []string{"s1"},
			wantBounds: map[string]string{"s1": "a"},
		},
		{
			name:        "a pin wins over a relay holder",
			sources:     map[string]string{"s1": "x"},
			workers:     []Worker{{Name: "b", Relays: []string{"s1"}}},
			relayOn:     []string{"s1"},
			wantBounds:  map[string]string{},
			wantWaiting: []string{"s1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srcs := sources(tt.sources)
			for _, n := range tt.relayOn {
				s := srcs[n]
				s.Relay = &spec.Relay{Enabled: true}
				srcs[n] = s
			}
			b, w := Schedule(srcs, tt.current, tt.workers)
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
