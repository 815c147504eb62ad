package planner

import (
	"slices"
	"sort"
	"strings"

	"github.com/dmplan/dmplan/internal/ownership"
	"github.com/dmplan/dmplan/spec"
)

// Which target tables a subtask writes into, as far as the patterns tell
// (the planner lists no tables): each include pattern of the filter goes
// to the To of every route whose From overlaps it, and, unless one route's
// From contains it, to itself (tables no route matches keep their names).
// Two subtasks on one target may share a table when two of their target
// patterns overlap.

// targetPatterns lists the target patterns of a filter and routes, sorted,
// once each.
func targetPatterns(tables []string, routes []spec.Route) []string {
	var out []string
	for _, p := range tables {
		if strings.HasPrefix(p, "!") {
			continue
		}
		g := parseGlob(p)
		covered := false
		for _, r := range routes {
			from := parseGlob(r.From)
			if !globOverlap(g, from) {
				continue
			}
			out = append(out, parseGlob(r.To).text)
			if globSubset(g, from) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, g.text)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// targetIndex is every subtask of both states by target address and
// target pattern (parsed once), built on first use.
type targetIndex map[string][]*targetEntry

type targetEntry struct {
	glob    glob
	writers []writerOf
}

type writerOf struct {
	id   SubtaskID
	mode spec.Mode
}

func (d *differ) targets() targetIndex {
	if d.tindex != nil {
		return d.tindex
	}
	byText := map[string]map[string]*targetEntry{}
	idx := targetIndex{}
	add := func(st State) {
		for _, t := range st.Tasks {
			a := addr(t.Target)
			pats := targetPatterns(t.Tables, t.Routes)
			if byText[a] == nil {
				byText[a] = map[string]*targetEntry{}
			}
			mode := t.Mode // the desired mode, when the task is still desired
			if wt, ok := d.want.Tasks[t.Name]; ok {
				mode = wt.Mode
			}
			for _, p := range pats {
				e := byText[a][p]
				if e == nil {
					e = &targetEntry{glob: parseGlob(p)}
					byText[a][p] = e
					idx[a] = append(idx[a], e)
				}
				for _, src := range t.Sources {
					e.writers = append(e.writers, writerOf{SubtaskID{t.Name, src}, mode})
				}
			}
		}
	}
	add(d.cur)
	add(d.want)
	d.tindex = idx
	return idx
}

// ownershipLines say what a fresh start of w (modes all and full) does
// with target tables other subtasks also write into, by ownership.Decide:
// never dropped; its rows loaded beside theirs when its earlier config c
// wrote none there; otherwise it stops with an error. nil when no target
// pattern is shared.
func (d *differ) ownershipLines(c, w Subtask) []string {
	if w.Mode == spec.ModeIncremental {
		return nil
	}
	idx := d.targets()[addr(w.Target)]
	old := targetPatterns(c.Tables, c.Routes)
	sameTarget := addr(c.Target) == addr(w.Target)
	type group struct {
		action ownership.Action
		others string
		pats   []string
	}
	var groups []*group
	for _, t := range targetPatterns(w.Tables, w.Routes) {
		tg := parseGlob(t)
		seen := map[SubtaskID]bool{w.idOf(): true}
		var others []ownership.Writer
		for _, e := range idx {
			if !globOverlap(tg, e.glob) {
				continue
			}
			for _, x := range e.writers {
				if !seen[x.id] {
					seen[x.id] = true
					others = append(others, ownership.Writer{Task: x.id.Task, Source: x.id.Source, Mode: string(x.mode)})
				}
			}
		}
		if len(others) == 0 {
			continue
		}
		wrote := false
		for _, o := range old {
			wrote = wrote || sameTarget && globOverlap(tg, parseGlob(o))
		}
		a := ownership.Decide(ownership.Facts{Exists: true, Wrote: wrote, Created: true, Others: others})
		names := ownership.Names(others)
		found := false
		for _, g := range groups {
			if g.action == a && g.others == names {
				g.pats, found = append(g.pats, t), true
			}
		}
		if !found {
			groups = append(groups, &group{action: a, others: names, pats: []string{t}})
		}
	}
	var out []string
	for _, g := range groups {
		head := "target tables matching " + quoteAll(g.pats) + " may also be written by " + g.others +
			": one they share is not dropped"
		if g.action == ownership.LoadBeside {
			out = append(out, head+"; this subtask wrote no rows there, so its rows are loaded beside theirs")
		} else {
			out = append(out, head+"; where this subtask wrote rows before, they cannot be told from theirs and it stops"+
				" with an error until they are removed by hand (docs/units.md, Fresh starts); elsewhere its rows are loaded beside theirs")
		}
	}
	return out
}

func (s Subtask) idOf() SubtaskID { return SubtaskID{Task: s.Task, Source: s.Source} }

func quoteAll(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = quote(x)
	}
	return names(q)
}

// orphanedTargets lists, as far as the patterns tell, the target tables
// written under the routes c and no longer under w, for the filter
// tables: the To of each route dropped (unless a kept route still
// writes it) and the own names of the tables an added route now sends
// elsewhere (unless an old route already did).
func orphanedTargets(tables []string, c, w []spec.Route) []string {
	var out []string
	stillTo := map[string]bool{}
	for _, r := range w {
		stillTo[parseGlob(r.To).text] = true
	}
	selected := func(from glob) bool {
		for _, p := range tables {
			if !strings.HasPrefix(p, "!") && globOverlap(parseGlob(p), from) {
				return true
			}
		}
		return false
	}
	for _, r := range c {
		to := parseGlob(r.To).text
		if !slices.Contains(w, r) && !stillTo[to] && selected(parseGlob(r.From)) {
			out = append(out, to)
		}
	}
	for _, r := range w {
		if slices.Contains(c, r) {
			continue
		}
		from := parseGlob(r.From)
		if !selected(from) {
			continue
		}
		routedBefore := false
		for _, o := range c {
			routedBefore = routedBefore || globSubset(from, parseGlob(o.From))
		}
		if !routedBefore && !stillTo[from.text] {
			out = append(out, from.text)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// orphanLine says which target tables a routes change leaves behind.
func orphanLine(t spec.Task, c, w []spec.Route) []string {
	o := orphanedTargets(t.Tables, c, w)
	if len(o) == 0 {
		return nil
	}
	return []string{"target tables left behind by the old routes, no longer written (their rows stay; dmplan status lists them" +
		" as orphaned): " + quoteAll(o)}
}

// sharesTargets reports whether some subtask of task w shares a target
// table with another subtask (see ownershipLines).
func (d *differ) sharesTargets(c, w spec.Task) bool {
	for _, s := range w.Sources {
		ws := subtaskOf(w, s)
		cs := ws
		if slices.Contains(c.Sources, s) {
			cs = subtaskOf(c, s)
		}
		if len(d.ownershipLines(cs, ws)) > 0 {
			return true
		}
	}
	return false
}
