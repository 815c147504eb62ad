package spec

import (
	"fmt"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/dmplan/dmplan/internal/tablefilter"
)

// ShardMode is spec.shardMode: how DDL on a table that a route merges
// from several shards is coordinated (docs/shard-ddl.md).
type ShardMode string

const (
	ShardPessimistic ShardMode = "pessimistic"
	ShardOptimistic  ShardMode = "optimistic"
)

// ShardDDL is spec.shardDDL.
type ShardDDL struct {
	Resolve []ShardResolution `json:"resolve,omitempty"`
}

// ShardResolution decides a DDL of a merged target table: skip it (no
// shard runs it) or execute it at once (the first shard to reach it,
// without waiting for the others).
type ShardResolution struct {
	Table  string `json:"table" yaml:"table"`   // the target table, "db.table"
	DDL    string `json:"ddl" yaml:"ddl"`       // as the target runs it (routed names)
	Action string `json:"action" yaml:"action"` // skip | execute
}

// shardMode decodes spec.shardMode and spec.shardDDL, and requires the
// mode when a route merges tables: its pattern matches many tables, the
// task has several sources, or two routes share a target.
func (d *decoder) shardMode(o *object, t *Task) {
	switch m := o.str("shardMode"); ShardMode(m) {
	case "":
	case ShardPessimistic:
		t.ShardMode = ShardPessimistic
	case ShardOptimistic:
		t.ShardMode = ShardOptimistic
	default:
		d.errorf(o.valueAt("shardMode"), "spec.shardMode %q is not a shard mode (want pessimistic or optimistic)", m)
	}
	if so, ok := o.child("shardDDL", "resolve"); ok {
		for i, it := range so.list("resolve") {
			ro, ok := d.object(it, fmt.Sprintf("spec.shardDDL.resolve[%d]", i), d.at(it), "table", "ddl", "action")
			if !ok {
				continue
			}
			r := ShardResolution{Table: ro.str("table"), DDL: strings.Join(strings.Fields(ro.str("ddl")), " "), Action: ro.str("action")}
			for _, f := range []string{"table", "ddl", "action"} {
				if ro.missing(f) {
					d.errorf(ro.keyAt(f), "%s is required", ro.fieldPath(f))
				}
			}
			if r.Action != "" && r.Action != "skip" && r.Action != "execute" {
				d.errorf(ro.valueAt("action"), "%s %q is not an action (want skip or execute)", ro.fieldPath("action"), r.Action)
			}
			if r.Table != "" && strings.Count(r.Table, ".") != 1 {
				d.errorf(ro.valueAt("table"), "%s %q must be a target table as db.table", ro.fieldPath("table"), r.Table)
			}
			t.ShardDDL.Resolve = append(t.ShardDDL.Resolve, r)
		}
	}
	if t.ShardMode != "" {
		return
	}
	seen := map[string]bool{}
	for i, it := range o.list("routes") {
		from, to := mapStr(it, "from"), mapStr(it, "to")
		rule, err := tablefilter.ParseRoute(tablefilter.Route{From: from, To: to})
		if err != nil {
			continue // reported by routes
		}
		_, _, literal := rule.From.Literal()
		why := ""
		switch {
		case !literal:
			why = "its pattern " + from + " can match several tables"
		case len(t.Sources) > 1:
			why = "the task has several sources"
		case seen[to]:
			why = "another route also writes " + to
		}
		seen[to] = true
		if why != "" {
			d.errorf(d.at(it), "spec.routes[%d] merges tables into %s (%s): spec.shardMode is required (pessimistic: the shards must run the same DDLs; optimistic: compatible DDLs apply at once; docs/shard-ddl.md)", i, to, why)
			return
		}
	}
}

// mapStr is a scalar field of a mapping node as written, "" otherwise.
func mapStr(n *yaml.Node, key string) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key && n.Content[i+1].Kind == yaml.ScalarNode {
			return n.Content[i+1].Value
		}
	}
	return ""
}
