package tablefilter

import (
	"errors"
	"fmt"
	"strings"
)

// Filter is an ordered list of patterns: for each table the last pattern
// that matches decides, and a table no pattern matches is excluded. The zero
// Filter matches nothing.
type Filter struct {
	rules []Pattern
	fold  bool // names and patterns compared in lower case
}

// Folded returns the filter comparing names case-insensitively, as a server
// with lower_case_table_names 1 or 2 does: its patterns are lower-cased,
// and so is every name before it is matched.
func (f Filter) Folded() Filter {
	out := Filter{fold: true, rules: make([]Pattern, len(f.rules))}
	for i, p := range f.rules {
		out.rules[i] = p.folded()
	}
	return out
}

// Parse parses patterns in order. The error lists every pattern that does
// not parse, each as `pattern N "text": reason` (N counts from 1).
func Parse(patterns []string) (Filter, error) {
	var f Filter
	var errs []error
	for i, s := range patterns {
		p, err := ParsePattern(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("pattern %d %w", i+1, err))
			continue
		}
		f.rules = append(f.rules, p)
	}
	if len(errs) > 0 {
		return Filter{}, errors.Join(errs...)
	}
	return f, nil
}

// Patterns returns the filter's patterns in order.
func (f Filter) Patterns() []Pattern { return append([]Pattern(nil), f.rules...) }

// Strings returns the canonical spelling of each pattern, in order.
func (f Filter) Strings() []string {
	out := make([]string, len(f.rules))
	for i, p := range f.rules {
		out[i] = p.String()
	}
	return out
}

// Match reports whether the filter selects the table db.table.
func (f Filter) Match(db, table string) bool {
	if f.fold {
		db, table = strings.ToLower(db), strings.ToLower(table)
	}
	for i := len(f.rules) - 1; i >= 0; i-- {
		if p := f.rules[i]; p.Match(db, table) {
			return !p.Exclude
		}
	}
	return false
}

// MatchSchema reports whether some table of database db could be selected.
// It never answers false for a database that has a selected table; it may
// answer true for a database whose every possible table is excluded by a
// combination of narrower patterns (such as "db.a*", "!db.a1*", "!db.a[!1]*").
// A later exclude whose table part is "*", or that matches an include's
// literal table name, is recognised as covering that include.
func (f Filter) MatchSchema(db string) bool {
	if f.fold {
		db = strings.ToLower(db)
	}
	for i, p := range f.rules {
		if p.Exclude || !p.db.match(db) {
			continue
		}
		if !f.coveredLater(i, db) {
			return true
		}
	}
	return false
}

// coveredLater reports whether a pattern after rule i excludes every table
// of db that rule i includes.
func (f Filter) coveredLater(i int, db string) bool {
	inc := f.rules[i].table
	for _, q := range f.rules[i+1:] {
		if !q.Exclude || !q.db.match(db) {
			continue
		}
		if q.table.matchAll() || (!inc.wild && q.table.match(inc.lit)) {
			return true
		}
	}
	return false
}
