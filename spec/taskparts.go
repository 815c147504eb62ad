package spec

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/dmplan/dmplan/internal/tablefilter"
)

// tables decodes spec.tables into canonical patterns, in order.
func (d *decoder) tables(o *object) []string {
	if o.emptyList("tables") {
		d.errorf(o.lineOf("tables"), "spec.tables must list at least one table pattern")
	}
	var out []string
	includes := false
	for _, s := range o.strList("tables") {
		p, err := tablefilter.ParsePattern(s.value)
		if err != nil {
			d.errorf(s.line, "spec.tables[%d] %v", s.index, err)
			continue
		}
		includes = includes || !p.Exclude
		out = append(out, p.String())
	}
	if len(out) > 0 && !includes {
		d.errorf(o.lineOf("tables"), `spec.tables only excludes, so it matches no table; start with the tables to include, such as "db.*"`)
	}
	return out
}

// routes decodes spec.routes into canonical routes, in order.
func (d *decoder) routes(o *object) []Route {
	var out []Route
	for i, it := range o.list("routes") {
		path := fmt.Sprintf("spec.routes[%d]", i)
		ro, ok := d.object(it, path, it.line, "from", "to")
		if !ok {
			continue
		}
		from, to := ro.str("from"), ro.str("to")
		bad := false
		for _, f := range []string{"from", "to"} {
			if ro.missing(f) {
				d.errorf(ro.lineOf(f), "%s is required", ro.at(f))
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
				d.errorf(ro.lineOf(re.Field), "%s %q: %s", ro.at(re.Field), re.Value, re.Reason)
			} else {
				d.errorf(ro.line, "%s: %v", path, err)
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
	if n.kind != mapNode {
		d.errorf(o.lineOf("start"), "spec.start must be a mapping of source names, not %s", describe(n))
		return nil
	}
	if mode != "" && mode != ModeIncremental && len(n.keys) > 0 {
		d.errorf(o.lineOf("start"), "spec.start is only allowed when spec.mode is incremental (it is %s); other modes start where their dump does", mode)
	}
	inTask := map[string]bool{}
	for _, r := range refs {
		inTask[r.name] = true
	}
	for _, line := range n.badKeys {
		d.errorf(line, "spec.start has a key that is not a string")
	}
	out := map[string]StartPos{}
	seen := map[string]int{}
	for _, k := range n.keys {
		path := "spec.start." + k.name
		if first, dup := seen[k.name]; dup {
			d.errorf(k.line, "%s is given twice (first on line %d)", path, first)
			continue
		}
		seen[k.name] = k.line
		if !inTask[k.name] {
			d.errorf(k.line, "%s: source %q is not in spec.sources", path, k.name)
		}
		so, ok := d.object(k.value, path, k.line, "gtid", "binlogFile", "binlogPos")
		if !ok {
			continue
		}
		if p, ok := d.startPos(so, k.line); ok && p != (StartPos{}) {
			out[k.name] = p
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// startPos decodes one source's start position; line is its key's line.
func (d *decoder) startPos(o *object, line int) (StartPos, bool) {
	p := StartPos{
		GTID:       strings.Join(strings.Fields(o.str("gtid")), ""),
		BinlogFile: o.str("binlogFile"),
	}
	ok := true
	if p.GTID != "" && !mariadbGTID.MatchString(p.GTID) && !mysqlGTID.MatchString(p.GTID) {
		d.errorf(o.lineOf("gtid"), "%s is not a GTID set (MariaDB: 0-1-1234, MySQL: 3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5)", o.at("gtid"))
		ok = false
	}
	if p.BinlogFile != "" && strings.ContainsAny(p.BinlogFile, "/\\ \t\r\n") {
		d.errorf(o.lineOf("binlogFile"), "%s %q must be a binlog file name, such as mysql-bin.000003", o.at("binlogFile"), p.BinlogFile)
		ok = false
	}
	if p.GTID != "" && p.BinlogFile != "" {
		d.errorf(line, "%s gives both gtid and binlogFile; give one", o.path)
		ok = false
	}
	if o.node("binlogPos") != nil {
		pos := o.integer("binlogPos", 4, 4, math.MaxUint32)
		if p.BinlogFile == "" && o.missing("binlogFile") {
			d.errorf(o.lineOf("binlogPos"), "%s needs %s", o.at("binlogPos"), o.at("binlogFile"))
			ok = false
		}
		p.BinlogPos = uint32(pos)
	} else if p.BinlogFile != "" {
		p.BinlogPos = 4 // the first event of a binlog file
	}
	return p, ok
}
