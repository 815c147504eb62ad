package binlogfilter

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/dmplan/dmplan/internal/tablefilter"
)

// Action is what a rule does with the events it matches.
type Action string

const (
	Ignore Action = "ignore" // drop the event
	Do     Action = "do"     // only the listed events pass
	Error  Action = "error"  // stop the subtask
	// Pass is a Decision's action when the event is replicated.
	Pass Action = "pass"
)

// Rule is one rule as spec holds it: table patterns (canonical), event
// names, RE2 regular expressions on statement text, and the action.
type Rule struct {
	Tables []string `json:"tables"`
	Events []string `json:"events,omitempty"`
	SQL    []string `json:"sql,omitempty"`
	Action Action   `json:"action"`
}

// Filter is a compiled list of rules. The zero Filter passes everything.
type Filter struct {
	rules []compiled
	fold  bool
}

type compiled struct {
	tables []tablefilter.Pattern
	events map[Event]bool
	sql    []*regexp.Regexp
	action Action
}

// New compiles rules (spec has validated them; an error here names the
// rule by its index).
func New(rules []Rule) (*Filter, error) {
	f := &Filter{}
	for i, r := range rules {
		c := compiled{action: r.Action, events: map[Event]bool{}}
		switch r.Action {
		case Ignore, Do, Error:
		default:
			return nil, fmt.Errorf("filters[%d]: action %q is not ignore, do or error", i, r.Action)
		}
		for _, t := range r.Tables {
			p, err := tablefilter.ParsePattern(t)
			if err != nil || p.Exclude {
				return nil, fmt.Errorf("filters[%d]: table pattern %q does not parse or excludes", i, t)
			}
			c.tables = append(c.tables, p)
		}
		for _, name := range r.Events {
			evs := Expand(name)
			if evs == nil {
				return nil, fmt.Errorf("filters[%d]: %q is not an event", i, name)
			}
			for _, e := range evs {
				c.events[e] = true
			}
		}
		for _, s := range r.SQL {
			re, err := regexp.Compile(s)
			if err != nil {
				return nil, fmt.Errorf("filters[%d]: sql %q: %w", i, s, err)
			}
			c.sql = append(c.sql, re)
		}
		f.rules = append(f.rules, c)
	}
	return f, nil
}

// Folded returns the filter comparing names in lower case, as a source
// with lower_case_table_names 1 or 2 stores them (tablefilter.Filter.Folded).
func (f *Filter) Folded() *Filter {
	out := &Filter{fold: true, rules: make([]compiled, len(f.rules))}
	for i, c := range f.rules {
		out.rules[i] = c
		out.rules[i].tables = nil
		for _, p := range c.tables {
			q, err := tablefilter.ParsePattern(strings.ToLower(p.String()))
			if err != nil {
				q = p // cannot happen: a canonical spelling stays valid lower-cased
			}
			out.rules[i].tables = append(out.rules[i].tables, q)
		}
	}
	return out
}

// Empty reports whether the filter has no rules.
func (f *Filter) Empty() bool { return f == nil || len(f.rules) == 0 }

// Decision is what becomes of one event: Pass, Ignore or Error, and the
// index of the rule that decided (-1 for Pass when no rule did).
type Decision struct {
	Action Action
	Rule   int
}

// Decide says what becomes of event e of table db.table; sql is the
// statement's text ("" for a row change). For a statement about the
// database itself, table is "".
func (f *Filter) Decide(e Event, db, table, sql string) Decision {
	if f.Empty() {
		return Decision{Pass, -1}
	}
	if f.fold {
		db, table = strings.ToLower(db), strings.ToLower(table)
	}
	var matched []int
	for i := range f.rules {
		if f.rules[i].matchTable(db, table) {
			matched = append(matched, i)
		}
	}
	for _, act := range []Action{Ignore, Error} {
		for _, i := range matched {
			if r := &f.rules[i]; r.action == act && r.hits(e, sql) {
				return Decision{act, i}
			}
		}
	}
	firstDo := -1
	for _, i := range matched {
		r := &f.rules[i]
		if r.action != Do {
			continue
		}
		if r.passes(e, sql) {
			return Decision{Pass, -1}
		}
		if firstDo < 0 {
			firstDo = i
		}
	}
	if firstDo >= 0 {
		return Decision{Ignore, firstDo}
	}
	return Decision{Pass, -1}
}

func (r *compiled) matchTable(db, table string) bool {
	for _, p := range r.tables {
		if table == "" {
			if p.AllTables() && p.MatchSchema(db) {
				return true
			}
		} else if p.Match(db, table) {
			return true
		}
	}
	return false
}

// hits: the rule lists the event, or one of its expressions matches the
// statement (ignore and error rules).
func (r *compiled) hits(e Event, sql string) bool {
	return r.events[e] || sql != "" && r.sqlMatch(sql)
}

// passes: a do rule lets the event through when it lists it (or lists no
// events) and, for a statement, one of its expressions matches (or it has
// none). Row changes have no text: expressions do not constrain them.
func (r *compiled) passes(e Event, sql string) bool {
	if len(r.events) > 0 && !r.events[e] {
		return false
	}
	if e.DML() || len(r.sql) == 0 {
		return true
	}
	return r.sqlMatch(sql)
}

func (r *compiled) sqlMatch(sql string) bool {
	return slices.ContainsFunc(r.sql, func(re *regexp.Regexp) bool { return re.MatchString(sql) })
}

// Key is the canonical text of rules, for config fingerprints.
func Key(rules []Rule) string {
	if len(rules) == 0 {
		return ""
	}
	b, _ := json.Marshal(rules) // strings only: cannot fail
	return string(b)
}
