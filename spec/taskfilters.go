package spec

import (
	"fmt"
	"regexp"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/dmplan/dmplan/internal/binlogfilter"
	"github.com/dmplan/dmplan/internal/onlineddl"
	"github.com/dmplan/dmplan/internal/tablefilter"
)

// FilterRule is one rule of spec.filters (internal/binlogfilter has its
// meaning): table patterns (canonical, no "!"), event names (canonical),
// RE2 regular expressions on statement text, and the action.
type FilterRule = binlogfilter.Rule

var filterFields = []string{"tables", "events", "sql", "action"}

// filters decodes spec.filters and checks the rules against each other
// and against the task's table filter.
func (d *decoder) filters(o *object, tables []string) []FilterRule {
	var out []FilterRule
	var at []pos // per kept rule, where it is written
	for i, it := range o.list("filters") {
		path := fmt.Sprintf("spec.filters[%d]", i)
		fo, ok := d.object(it, path, d.at(it), filterFields...)
		if !ok {
			continue
		}
		r, pats, ok := d.filterRule(&fo)
		if !ok {
			continue
		}
		if u := binlogfilter.Unselected(r.Tables, tables); len(u) > 0 {
			for _, k := range u {
				d.errorf(pats[k], "%s.tables[%d] %q matches no table that spec.tables selects; the rule would never apply",
					path, k, r.Tables[k])
			}
			continue
		}
		out = append(out, r)
		at = append(at, d.at(it))
	}
	for _, c := range binlogfilter.Contradictions(out) {
		d.errorf(at[c.B], "%s", strings.ReplaceAll(c.Error(), "filters[", "spec.filters["))
	}
	return out
}

// filterRule decodes one rule; ok is false when it has errors (reported).
func (d *decoder) filterRule(fo *object) (FilterRule, []pos, bool) {
	var r FilterRule
	ok := true
	var pats []pos
	if fo.emptyList("tables") {
		d.errorf(fo.valueAt("tables"), "%s must list at least one table pattern", fo.fieldPath("tables"))
		ok = false
	}
	for _, s := range fo.strList("tables") {
		p, err := tablefilter.ParsePattern(s.value)
		switch {
		case err != nil:
			d.errorf(s.at, "%s[%d] %v", fo.fieldPath("tables"), s.index, err)
			ok = false
		case p.Exclude:
			d.errorf(s.at, "%s[%d] %q: must not start with \"!\"; a rule lists the tables it applies to", fo.fieldPath("tables"), s.index, s.value)
			ok = false
		default:
			r.Tables = append(r.Tables, p.String())
			pats = append(pats, s.at)
		}
	}
	for _, s := range fo.strList("events") {
		c := binlogfilter.Canonical(s.value)
		if c == "" {
			d.errorf(s.at, "%s[%d] %q is not an event (want one of: %s)", fo.fieldPath("events"), s.index, s.value,
				strings.Join(binlogfilter.EventNames, ", "))
			ok = false
			continue
		}
		r.Events = append(r.Events, c)
	}
	for _, s := range fo.strList("sql") {
		if _, err := regexp.Compile(s.value); err != nil {
			d.errorf(s.at, "%s[%d] is not an RE2 regular expression: %v", fo.fieldPath("sql"), s.index, err)
			ok = false
			continue
		}
		r.SQL = append(r.SQL, s.value)
	}
	if fo.emptyList("events") && fo.emptyList("sql") && ok {
		d.errorf(fo.at, "%s needs events or sql: a rule without either matches no event", fo.path)
		ok = false
	}
	switch a := fo.str("action"); binlogfilter.Action(a) {
	case binlogfilter.Ignore, binlogfilter.Do, binlogfilter.Error:
		r.Action = binlogfilter.Action(a)
	case "":
		if fo.missing("action") {
			d.errorf(fo.keyAt("action"), "%s is required (ignore, do or error)", fo.fieldPath("action"))
			ok = false
		}
	default:
		d.errorf(fo.valueAt("action"), "%s %q is not an action (want ignore, do or error)", fo.fieldPath("action"), a)
		ok = false
	}
	return r, pats, ok
}

// OnlineDDL is spec.onlineDDL (internal/onlineddl): whether the shadow
// and trash tables of online schema change tools (gh-ost,
// pt-online-schema-change) are recognised, and the RE2 rules that
// recognise them, each with a group capturing the real table's name. The
// zero value is the default: on, with DM's rules.
type OnlineDDL = onlineddl.Config

// onlineDDL decodes spec.onlineDDL: true, false, or a mapping of shadow and
// trash rules (which turns it on).
func (d *decoder) onlineDDL(o *object) OnlineDDL {
	n := o.node("onlineDDL")
	if n == nil {
		return OnlineDDL{}
	}
	if n.Kind == yaml.ScalarNode {
		if yaml11Bools[n.Value] {
			d.errorf(o.valueAt("onlineDDL"), "spec.onlineDDL %q: write true or false", n.Value)
			return OnlineDDL{}
		}
		if typeOf(n) != typeBool {
			d.errorf(o.valueAt("onlineDDL"), "spec.onlineDDL must be true, false or a mapping of shadow and trash rules, not %s", describe(n))
			return OnlineDDL{}
		}
		return OnlineDDL{Off: n.Value == "false"}
	}
	oo, ok := o.child("onlineDDL", "shadow", "trash")
	if !ok {
		return OnlineDDL{}
	}
	var out OnlineDDL
	for _, f := range []string{"shadow", "trash"} {
		for _, s := range oo.strList(f) {
			re, err := regexp.Compile(s.value)
			if err != nil {
				d.errorf(s.at, "%s[%d] is not an RE2 regular expression: %v", oo.fieldPath(f), s.index, err)
				continue
			}
			if re.NumSubexp() < 1 {
				d.errorf(s.at, "%s[%d] %q has no group: the first group must capture the real table's name", oo.fieldPath(f), s.index, s.value)
				continue
			}
			if f == "shadow" {
				out.Shadow = append(out.Shadow, s.value)
			} else {
				out.Trash = append(out.Trash, s.value)
			}
		}
	}
	return out
}
