package planner

import (
	"slices"
	"sort"
	"strings"

	"github.com/dmplan/dmplan/internal/tablefilter"
)

// A table filter is an ordered list of patterns; the last pattern a table
// matches decides, and a "!" pattern excludes. To say which tables a filter
// change adds or drops without listing the source's tables, the planner
// looks at every combination of patterns a table could match (its
// signature), evaluates both filters on it, and describes the signatures
// whose outcome changes in terms of the patterns.

// maxFilterPatterns bounds the signature search (2^n combinations).
const maxFilterPatterns = 12

// tableGroup is one set of tables whose match changes: the tables matching
// every pattern in Match and none in Except.
type tableGroup struct {
	By        string   // the include pattern that decides (new filter for added tables, old for dropped)
	Match     []string // pattern bodies the tables match (most specific ones)
	Except    []string
	ExceptWhy []string // per Except: why those tables are left out ("already matched"), or ""
	Reason    string   // why the other filter decides differently, or ""
}

// filterDelta is the effect of replacing one filter with another.
type filterDelta struct {
	Added, Dropped []tableGroup
	Complex        bool // too many patterns to analyse; nothing else is set
}

type filterPattern struct {
	body    int // index into bodies
	exclude bool
}

type filterAnalysis struct {
	bodies     []string
	globs      []glob
	sub        [][]bool // sub[i][j]: bodies[i] ⊆ bodies[j]
	old, new   []filterPattern
	realizable []bool
	oldM, newM []bool
	oldD, newD []int // decisive pattern index, -1 when none matches
}

func compareFilters(oldF, newF []string) filterDelta {
	a := &filterAnalysis{}
	index := map[string]int{} // by canonical spelling: `shop`.t and shop.t are one pattern
	parse := func(list []string) []filterPattern {
		out := make([]filterPattern, len(list))
		for i, p := range list {
			body, excl := strings.CutPrefix(p, "!")
			key := body
			if pat, err := tablefilter.ParsePattern(p); err == nil {
				excl, pat.Exclude = pat.Exclude, false
				key = pat.String()
			}
			k, ok := index[key]
			if !ok {
				k = len(a.bodies)
				index[key] = k
				a.bodies = append(a.bodies, body) // as written, for descriptions
			}
			out[i] = filterPattern{body: k, exclude: excl}
		}
		return out
	}
	a.old, a.new = parse(oldF), parse(newF)
	n := len(a.bodies)
	if n > maxFilterPatterns {
		return filterDelta{Complex: true}
	}
	a.globs = make([]glob, n)
	for i, b := range a.bodies {
		a.globs[i] = parseGlob(b)
	}
	a.sub = make([][]bool, n)
	overlap := make([][]bool, n)
	for i := range n {
		a.sub[i] = make([]bool, n)
		overlap[i] = make([]bool, n)
		for j := range n {
			a.sub[i][j] = i == j || globSubset(a.globs[i], a.globs[j])
			overlap[i][j] = i == j || globOverlap(a.globs[i], a.globs[j])
		}
	}
	total := 1 << n
	a.realizable = make([]bool, total)
	a.oldM, a.newM = make([]bool, total), make([]bool, total)
	a.oldD, a.newD = make([]int, total), make([]int, total)
	for s := 1; s < total; s++ {
		a.realizable[s] = realizable(s, n, a.sub, overlap)
		a.oldM[s], a.oldD[s] = evalFilter(a.old, s)
		a.newM[s], a.newD[s] = evalFilter(a.new, s)
	}
	var d filterDelta
	d.Added = a.groups(func(s int) bool { return a.newM[s] && !a.oldM[s] }, a.new, a.newD, a.old, a.oldD, false)
	d.Dropped = a.groups(func(s int) bool { return a.oldM[s] && !a.newM[s] }, a.old, a.oldD, a.new, a.newD, true)
	return d
}

// realizable reports whether a table could match exactly the patterns in s:
// the patterns overlap pairwise, and s holds every pattern that contains one
// of its members. (Pairwise overlap can admit a few impossible signatures;
// then a description names a combination no table has, which is still true.)
func realizable(s, n int, sub, overlap [][]bool) bool {
	for i := range n {
		if s&(1<<i) == 0 {
			continue
		}
		for j := range n {
			in := s&(1<<j) != 0
			if in && !overlap[i][j] {
				return false
			}
			if !in && sub[i][j] {
				return false
			}
		}
	}
	return true
}

func evalFilter(list []filterPattern, s int) (bool, int) {
	for i := len(list) - 1; i >= 0; i-- {
		if s&(1<<list[i].body) != 0 {
			return !list[i].exclude, i
		}
	}
	return false, -1
}

// groups collects the realizable signatures that pass sel, grouped by the
// include pattern that decides them in this filter, and describes each group.
func (a *filterAnalysis) groups(sel func(int) bool, this []filterPattern, thisD []int, other []filterPattern, otherD []int, dropped bool) []tableGroup {
	total := len(a.realizable)
	byBody := map[int][]int{}
	var order []int
	for s := 1; s < total; s++ {
		if !a.realizable[s] || !sel(s) {
			continue
		}
		b := this[thisD[s]].body
		if _, ok := byBody[b]; !ok {
			order = append(order, b)
		}
		byBody[b] = append(byBody[b], s)
	}
	sort.Ints(order)
	var out []tableGroup
	for _, b := range order {
		masks := byBody[b]
		if g, ok := a.describe(b, masks, sel, this, thisD, dropped); ok {
			g.Reason = a.reason(masks, other, otherD, dropped)
			out = append(out, g)
			continue
		}
		// No single "P except E" is exact: one line per signature.
		for _, s := range masks {
			g := tableGroup{By: a.bodies[b], Match: a.minimal(s), Except: a.reduceExcept(a.outsiders(s)),
				Reason: a.reason([]int{s}, other, otherD, dropped)}
			out = append(out, g)
		}
	}
	return out
}

// describe tries "tables matching all of R, except those matching any of E"
// for one group, and checks it is exact over every realizable signature.
func (a *filterAnalysis) describe(b int, masks []int, sel func(int) bool, this []filterPattern, thisD []int, dropped bool) (tableGroup, bool) {
	r := masks[0]
	for _, s := range masks[1:] {
		r &= s
	}
	union := 0
	for _, s := range masks {
		union |= s
	}
	total := len(a.realizable)
	grouped := func(s int) bool { return a.realizable[s] && sel(s) && this[thisD[s]].body == b }
	e := 0
	for s := 1; s < total; s++ {
		if a.realizable[s] && s&r == r && !grouped(s) {
			e |= s &^ union
		}
	}
	for s := 1; s < total; s++ {
		if !a.realizable[s] || s&r != r {
			continue
		}
		if grouped(s) != (s&e == 0) {
			return tableGroup{}, false
		}
	}
	g := tableGroup{By: a.bodies[b], Match: a.minimal(r), Except: a.reduceExcept(e)}
	for _, x := range g.Except {
		g.ExceptWhy = append(g.ExceptWhy, a.exceptWhy(x, r, grouped, dropped))
	}
	return g, true
}

// exceptWhy says why the tables of an excepted pattern are not in a group,
// when the reason is the same for all of them.
func (a *filterAnalysis) exceptWhy(body string, r int, grouped func(int) bool, dropped bool) string {
	j := slices.Index(a.bodies, body)
	why := ""
	for s := 1; s < len(a.realizable); s++ {
		if !a.realizable[s] || s&r != r || s&(1<<j) == 0 || grouped(s) {
			continue
		}
		var w string
		switch {
		case a.oldM[s] && a.newM[s] && dropped:
			w = "still matched"
		case a.oldM[s] && a.newM[s]:
			w = "already matched"
		case !a.oldM[s] && !a.newM[s]:
			w = "excluded"
		default:
			return "" // its tables change too, through another pattern
		}
		if why != "" && why != w {
			return ""
		}
		why = w
	}
	return why
}

// outsiders are the patterns a table of signature s does not match but
// could have (they overlap every pattern it matches).
func (a *filterAnalysis) outsiders(s int) int {
	n := len(a.bodies)
	out := 0
	for j := range n {
		if s&(1<<j) != 0 {
			continue
		}
		ok := true
		for i := range n {
			if s&(1<<i) != 0 && !globOverlap(a.globs[i], a.globs[j]) {
				ok = false
				break
			}
		}
		if ok {
			out |= 1 << j
		}
	}
	return out
}

// minimal keeps the most specific patterns of a set: a table matching them
// matches the rest.
func (a *filterAnalysis) minimal(s int) []string {
	var out []string
	for i := range a.bodies {
		if s&(1<<i) == 0 {
			continue
		}
		keep := true
		for j := range a.bodies {
			if j != i && s&(1<<j) != 0 && a.sub[j][i] && !a.sub[i][j] {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, a.bodies[i])
		}
	}
	return out
}

// reduceExcept keeps the widest patterns of an exception set: excluding a
// pattern's tables excludes those of every pattern it contains.
func (a *filterAnalysis) reduceExcept(s int) []string {
	var out []string
	for i := range a.bodies {
		if s&(1<<i) == 0 {
			continue
		}
		keep := true
		for j := range a.bodies {
			if j != i && s&(1<<j) != 0 && a.sub[i][j] && (!a.sub[j][i] || j < i) {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, a.bodies[i])
		}
	}
	return out
}

// reason says how the other filter treated a group's tables, when it is the
// same for the whole group.
func (a *filterAnalysis) reason(masks []int, other []filterPattern, otherD []int, dropped bool) string {
	first := otherD[masks[0]]
	for _, s := range masks[1:] {
		d := otherD[s]
		if d == first {
			continue
		}
		if d < 0 || first < 0 || other[d] != other[first] {
			return ""
		}
	}
	switch {
	case first < 0 && dropped:
		return "no pattern matches them now"
	case first < 0:
		return ""
	case dropped:
		return "now excluded by !" + a.bodies[other[first].body]
	default:
		return "excluded by !" + a.bodies[other[first].body] + " before"
	}
}
