package planner

import (
	"sort"

	"github.com/dmplan/dmplan/spec"
)

// Schedule decides which live agent serves each source.
//
//   - A source pinned with spec.worker is bound to that agent when it is live,
//     and waits otherwise (it never falls back to another agent).
//   - An unpinned source keeps its current agent when that agent is live, so
//     a plan never moves a source without a reason.
//   - Every other unpinned source with its relay on goes to a live agent that
//     holds the source's relay directory (Worker.Relays), the one with the
//     fewest bounds so far (ties by name), as DM's scheduler does: the relay
//     continues from its files instead of fetching the source's binlog
//     again, which may no longer be on the source (docs/relay.md).
//   - Every other unpinned source goes to the live agent with the fewest
//     bounds so far (ties broken by agent name), in sorted source order.
//   - With no live agent at all, unpinned sources without a live agent wait.
//
// current is the present assignment (source -> agent); entries for sources
// not in sources are ignored. workers are the live agents. The result is
// deterministic: the same inputs always give the same bounds. waiting is
// sorted.
func Schedule(sources map[string]spec.Source, current map[string]string, workers []Worker) (bounds map[string]string, waiting []string) {
	live := make(map[string]int, len(workers)) // agent -> number of bounds
	holders := map[string][]string{}           // source -> live agents holding its relay
	for _, w := range workers {
		if _, dup := live[w.Name]; !dup {
			for _, s := range w.Relays {
				holders[s] = append(holders[s], w.Name)
			}
		}
		live[w.Name] = 0
	}
	names := make([]string, 0, len(sources))
	for name := range sources {
		names = append(names, name)
	}
	sort.Strings(names)

	bounds = make(map[string]string, len(sources))
	var free []string // unpinned sources that need an agent
	for _, name := range names {
		src := sources[name]
		switch {
		case src.Worker != "":
			if _, ok := live[src.Worker]; ok {
				bounds[name] = src.Worker
				live[src.Worker]++
			} else {
				waiting = append(waiting, name)
			}
		default:
			if agent, ok := current[name]; ok {
				if _, isLive := live[agent]; isLive {
					bounds[name] = agent
					live[agent]++
					continue
				}
			}
			free = append(free, name)
		}
	}
	rest := free[:0:0]
	for _, name := range free {
		if a := leastLoaded(holders[name], live); a != "" && sources[name].RelayOn() {
			bounds[name] = a
			live[a]++
			continue
		}
		rest = append(rest, name)
	}
	free = rest
	if len(free) == 0 {
		return bounds, waiting
	}
	if len(live) == 0 {
		waiting = append(waiting, free...)
		sort.Strings(waiting)
		return bounds, waiting
	}
	agents := make([]string, 0, len(live))
	for a := range live {
		agents = append(agents, a)
	}
	sort.Strings(agents)
	h := &loadHeap{agents: agents, load: live}
	h.init()
	for _, name := range free {
		a := h.agents[0]
		bounds[name] = a
		live[a]++
		h.down(0)
	}
	return bounds, waiting
}

// leastLoaded is the agent of agents with the fewest bounds (ties by
// name), "" when agents is empty.
func leastLoaded(agents []string, load map[string]int) string {
	best := ""
	for _, a := range agents {
		if best == "" || load[a] < load[best] || (load[a] == load[best] && a < best) {
			best = a
		}
	}
	return best
}

// loadHeap is a min-heap of agents ordered by (load, name), so that
// scheduling thousands of sources stays O(n log m).
type loadHeap struct {
	agents []string
	load   map[string]int
}

func (h *loadHeap) less(i, j int) bool {
	a, b := h.agents[i], h.agents[j]
	if h.load[a] != h.load[b] {
		return h.load[a] < h.load[b]
	}
	return a < b
}

func (h *loadHeap) init() {
	for i := len(h.agents)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *loadHeap) down(i int) {
	n := len(h.agents)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h.agents[i], h.agents[m] = h.agents[m], h.agents[i]
		i = m
	}
}
