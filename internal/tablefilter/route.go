package tablefilter

import (
	"errors"
	"fmt"
	"strings"
)

// Route maps the tables matching From (a pattern without '!') to the table
// To ("db.table", without wildcards). It mirrors spec.Route, which this
// package cannot import.
type Route struct {
	From string
	To   string
}

// RouteError says which half of a route is wrong and why.
type RouteError struct {
	Field  string // "from" or "to"
	Value  string
	Reason string
}

func (e *RouteError) Error() string { return fmt.Sprintf("%s %q: %s", e.Field, e.Value, e.Reason) }

// RouteRule is a parsed route.
type RouteRule struct {
	From          Pattern
	ToDB, ToTable string
}

// ParseRoute parses one route.
func ParseRoute(r Route) (RouteRule, error) {
	from, err := ParsePattern(r.From)
	if err != nil {
		var pe *PatternError
		errors.As(err, &pe)
		return RouteRule{}, &RouteError{Field: "from", Value: r.From, Reason: pe.Reason}
	}
	if from.Exclude {
		return RouteRule{}, &RouteError{Field: "from", Value: r.From, Reason: `must not start with "!"; a route has no excludes`}
	}
	to, err := ParsePattern(r.To)
	if err != nil {
		var pe *PatternError
		errors.As(err, &pe)
		return RouteRule{}, &RouteError{Field: "to", Value: r.To, Reason: pe.Reason}
	}
	db, table, ok := to.Literal()
	if !ok || to.Exclude {
		return RouteRule{}, &RouteError{Field: "to", Value: r.To, Reason: "must be a concrete db.table, without wildcards or \"!\""}
	}
	return RouteRule{From: from, ToDB: db, ToTable: table}, nil
}

// Route returns the canonical spelling of the rule.
func (r RouteRule) Route() Route {
	to := Pattern{db: part{lit: r.ToDB}, table: part{lit: r.ToTable}}
	return Route{From: r.From.String(), To: to.String()}
}

// Router renames tables by the first route that matches. The zero Router
// renames nothing.
type Router struct {
	rules []RouteRule
	fold  bool // names and From patterns compared in lower case
}

// Folded returns the router matching names case-insensitively, as a server
// with lower_case_table_names 1 or 2 does (see Filter.Folded). Targets keep
// their spelling.
func (rt Router) Folded() Router {
	out := Router{fold: true, rules: make([]RouteRule, len(rt.rules))}
	for i, r := range rt.rules {
		r.From = r.From.folded()
		out.rules[i] = r
	}
	return out
}

// ParseRoutes parses routes in order. The error lists every route that does
// not parse, each as `route N: from|to "text": reason` (N counts from 1).
func ParseRoutes(routes []Route) (Router, error) {
	var rt Router
	var errs []error
	for i, r := range routes {
		rule, err := ParseRoute(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("route %d: %w", i+1, err))
			continue
		}
		rt.rules = append(rt.rules, rule)
	}
	if len(errs) > 0 {
		return Router{}, errors.Join(errs...)
	}
	return rt, nil
}

// Route returns the target name of db.table: the To of the first route
// whose From matches, or db.table unchanged when none does.
func (rt Router) Route(db, table string) (tdb, ttable string) {
	mdb, mtable := db, table
	if rt.fold {
		mdb, mtable = strings.ToLower(db), strings.ToLower(table)
	}
	for _, r := range rt.rules {
		if r.From.Match(mdb, mtable) {
			return r.ToDB, r.ToTable
		}
	}
	return db, table
}

// Rules returns the parsed routes in order.
func (rt Router) Rules() []RouteRule { return append([]RouteRule(nil), rt.rules...) }
