package spec

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/dmplan/dmplan/internal/tablefilter"
)

// tables decodes spec.tables into canonical patterns, in order.
func (d *decoder) tables(o *object) []string {
	if o.emptyList("tables") {
		d.errorf(o.valueAt("tables"), "spec.tables must list at least one table pattern")
	}
	var out []string
	includes := false
	for _, s := range o.strList("tables") {
		p, err := tablefilter.ParsePattern(s.value)
		if err != nil {
			d.errorf(s.at, "spec.tables[%d] %v", s.index, err)
			continue
		}
		includes = includes || !p.Exclude
		out = append(out, p.String())
	}
	if len(out) > 0 && !includes {
		d.errorf(o.valueAt("tables"), `spec.tables only excludes, so it matches no table; start with the tables to include, such as "db.*"`)
	}
	return out
}

// routes decodes spec.routes into canonical routes, in order.
func (d *decoder) routes(o *object) []Route {
	var out []Route
	for i, it := range o.list("routes") {
		path := fmt.Sprintf("spec.routes[%d]", i)
		ro, ok := d.object(it, path, d.at(it), "from", "to")
		if !ok {
			continue
		}
		from, to := ro.str("from"), ro.str("to")
		bad := false
		for _, f := range []string{"from", "to"} {
			if ro.missing(f) {
				d.errorf(ro.keyAt(f), "%s is required", ro.fieldPath(f))
				bad = true
			}
		}
		if bad || from == "" || to == "" {
			continue
		}
		rule, err := tablefilter.ParseRoute(tablefilter.Route{From: from, To: to})
		if err != nil {
			var re *tablefilter.RouteError
			if errors.As(err, &re) {
				d.errorf(ro.valueAt(re.Field), "%s %q: %s", ro.fieldPath(re.Field), re.Value, re.Reason)
			} else {
				d.errorf(ro.at, "%s: %v", path, err)
			}
			continue
		}
		r := rule.Route()
		out = append(out, Route{From: r.From, To: r.To})
	}
	return out
}

var (
	mariadbGTID = regexp.MustCompile(`^\d+-\d+-\d+(,\d+-\d+-\d+)*$`)
	mysqlGTID   = regexp.MustCompile(`^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}(:([a-z_][a-z0-9_]{0,31}|\d+(-\d+)?))+(,[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}(:([a-z_][a-z0-9_]{0,31}|\d+(-\d+)?))+)*$`)
)

// start decodes spec.start: per source, where incremental sync begins.
// Entries that give no position (the source's current one) are left out.
func (d *decoder) start(o *object, mode Mode, refs []sourceRef) map[string]StartPos {
	n := o.node("start")
	if n == nil {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(o.valueAt("start"), "spec.start must be a mapping of source names, not %s", describe(n))
		return nil
	}
	var entries []field
	d.eachKey(n, "spec.start", func(k, v *yaml.Node) {
		if _, ok := stringKey(k); !ok {
			d.errorf(d.at(k), "spec.start has a key that is not a string")
			return
		}
		entries = append(entries, field{key: k, value: v})
	})
	if mode != "" && mode != ModeIncremental && len(entries) > 0 {
		d.errorf(o.keyAt("start"), "spec.start is only allowed when spec.mode is incremental (it is %s); other modes start where their dump does", mode)
	}
	var out map[string]StartPos
	seen := make(map[string]int, len(entries))
	for _, e := range entries {
		name, _ := stringKey(e.key)
		at := d.at(e.key)
		path := "spec.start." + name
		if first, dup := seen[name]; dup {
			d.errorf(at, "%s is given twice (first on line %d)", path, first)
			continue
		}
		seen[name] = at.line
		if !slices.ContainsFunc(refs, func(r sourceRef) bool { return r.name == name }) {
			d.errorf(at, "%s: source %q is not in spec.sources", path, name)
		}
		so, ok := d.object(e.value, path, at, "gtid", "binlogFile", "binlogPos", "time")
		if !ok {
			continue
		}
		if p, ok := d.startPos(&so); ok && p != (StartPos{}) {
			if out == nil {
				out = map[string]StartPos{}
			}
			out[name] = p
		}
	}
	return out
}

func nonEmpty(xs ...string) int {
	n := 0
	for _, x := range xs {
		if x != "" {
			n++
		}
	}
	return n
}

// startPos decodes one source's start position.
func (d *decoder) startPos(o *object) (StartPos, bool) {
	p := StartPos{
		GTID:       strings.Join(strings.Fields(o.str("gtid")), ""),
		BinlogFile: o.str("binlogFile"),
	}
	ok := true
	if p.GTID != "" && !mariadbGTID.MatchString(p.GTID) && !mysqlGTID.MatchString(p.GTID) {
		d.errorf(o.valueAt("gtid"), "%s is not a GTID set (MariaDB: 0-1-1234, MySQL: 3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5)", o.fieldPath("gtid"))
		ok = false
	}
	if p.BinlogFile != "" && strings.ContainsAny(p.BinlogFile, "/\\ \t\r\n") {
		d.errorf(o.valueAt("binlogFile"), "%s %q must be a binlog file name, such as mysql-bin.000003", o.fieldPath("binlogFile"), p.BinlogFile)
		ok = false
	}
	if t := o.str("time"); t != "" {
		ts, err := time.Parse(time.RFC3339Nano, t)
		if err != nil {
			d.errorf(o.valueAt("time"), "%s %q is not an RFC 3339 time, such as 2026-11-29T10:00:00Z", o.fieldPath("time"), t)
			ok = false
		} else {
			p.Time = ts.UTC().Format(time.RFC3339Nano)
		}
	}
	if given := nonEmpty(p.GTID, p.BinlogFile, o.str("time")); given > 1 {
		d.errorf(o.at, "%s gives more than one of gtid, binlogFile and time; give one", o.path)
		ok = false
	}
	if o.node("binlogPos") != nil {
		pos := o.integer("binlogPos", 4, 4, math.MaxUint32)
		if p.BinlogFile == "" && o.missing("binlogFile") {
			d.errorf(o.keyAt("binlogPos"), "%s needs %s", o.fieldPath("binlogPos"), o.fieldPath("binlogFile"))
			ok = false
		}
		p.BinlogPos = uint32(pos)
	} else if p.BinlogFile != "" {
		p.BinlogPos = 4 // the first event of a binlog file
	}
	return p, ok
}
