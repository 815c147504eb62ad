package binlogfilter

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dmplan/dmplan/internal/tablefilter"
)

// Conflict is two rules that contradict each other: on tables both can
// match, one lets Event pass (do) and the other drops it (ignore) or stops
// on it (error), or one drops it and the other stops on it.
type Conflict struct {
	A, B       int    // rule indexes, A < B
	Event      Event  // the first event both list
	TableA     string // the patterns of A and B that overlap
	TableB     string
	ActA, ActB Action
}

func (c Conflict) Error() string {
	return fmt.Sprintf("filters[%d] (%s) and filters[%d] (%s) contradict each other on %s: both list %q for tables matching %s and %s; "+
		"name each event in one rule only for these tables", c.A, c.ActA, c.B, c.ActB, overlapDesc(c.TableA, c.TableB), c.Event, c.TableA, c.TableB)
}

func overlapDesc(a, b string) string {
	if a == b {
		return a
	}
	return "the tables matching both " + a + " and " + b
}

// Contradictions lists every pair of rules that contradict each other.
// Only listed events are compared: regular expressions on statement text
// cannot be compared statically.
func Contradictions(rules []Rule) []Conflict {
	var out []Conflict
	for i := range rules {
		for j := i + 1; j < len(rules); j++ {
			a, b := rules[i], rules[j]
			if a.Action == b.Action {
				continue
			}
			ev, ok := commonEvent(a.Events, b.Events)
			if !ok {
				continue
			}
			ta, tb, ok := overlappingTables(a.Tables, b.Tables)
			if !ok {
				continue
			}
			out = append(out, Conflict{A: i, B: j, Event: ev, TableA: ta, TableB: tb, ActA: a.Action, ActB: b.Action})
		}
	}
	return out
}

func expandAll(names []string) map[Event]bool {
	out := map[Event]bool{}
	for _, n := range names {
		for _, e := range Expand(n) {
			out[e] = true
		}
	}
	return out
}

func commonEvent(a, b []string) (Event, bool) {
	ea, eb := expandAll(a), expandAll(b)
	for _, e := range append(append([]Event(nil), dmlEvents...), ddlEvents...) {
		if ea[e] && eb[e] {
			return e, true
		}
	}
	return "", false
}

func overlappingTables(a, b []string) (string, string, bool) {
	for _, x := range a {
		px, err := tablefilter.ParsePattern(x)
		if err != nil {
			continue
		}
		for _, y := range b {
			py, err := tablefilter.ParsePattern(y)
			if err == nil && tablefilter.Overlap(px, py) {
				return x, y, true
			}
		}
	}
	return "", "", false
}

// Unselected returns the indexes of the patterns of a rule's tables that
// match no table the task's table filter selects. A literal pattern is
// checked against the filter exactly; a wildcard pattern must overlap one
// of the filter's include patterns without lying wholly inside an exclude
// pattern that comes after it (decided for literal excludes, "db.*"
// excludes and the exact same pattern).
func Unselected(ruleTables []string, taskTables []string) []int {
	filter, err := tablefilter.Parse(taskTables)
	if err != nil {
		return nil // spec reports the table filter itself
	}
	pats := filter.Patterns()
	var out []int
	for i, t := range ruleTables {
		p, err := tablefilter.ParsePattern(t)
		if err != nil {
			continue
		}
		if db, table, ok := p.Literal(); ok {
			if !filter.Match(db, table) {
				out = append(out, i)
			}
			continue
		}
		if !slices.ContainsFunc(pats, func(q tablefilter.Pattern) bool {
			return !q.Exclude && tablefilter.Overlap(p, q) && !excludedAfter(p, q, pats)
		}) {
			out = append(out, i)
		}
	}
	return out
}

// excludedAfter reports whether an exclude after include q covers all of p
// (p's spelling equals the exclude's, or the exclude is "db.*" with p's
// database part literal and equal).
func excludedAfter(p, q tablefilter.Pattern, pats []tablefilter.Pattern) bool {
	after := false
	for _, x := range pats {
		if x.String() == q.String() && !x.Exclude {
			after = true
			continue
		}
		if !after || !x.Exclude {
			continue
		}
		body := strings.TrimPrefix(x.String(), "!")
		if body == p.String() {
			return true
		}
		if x.AllTables() {
			db, ok := p.LiteralDB()
			if xdb, xok := x.LiteralDB(); ok && xok && xdb == db {
				return true
			}
		}
	}
	return false
}

// Describe says in a few words what a rule does, for plans.
func Describe(r Rule) string {
	var what []string
	if len(r.Events) > 0 {
		what = append(what, strings.Join(r.Events, ", "))
	}
	if len(r.SQL) > 0 {
		q := make([]string, len(r.SQL))
		for i, s := range r.SQL {
			q[i] = "'" + s + "'"
		}
		what = append(what, "statements matching "+strings.Join(q, " or "))
	}
	subject := strings.Join(what, " and ")
	on := " on " + strings.Join(r.Tables, ", ")
	switch r.Action {
	case Ignore:
		return "drops " + subject + on
	case Error:
		return "stops the subtask at " + subject + on
	case Do:
		return "passes only " + subject + on + " (their other events are dropped)"
	}
	return string(r.Action) + " " + subject + on
}
