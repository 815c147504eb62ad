package planner

import (
	"strconv"
	"strings"

	"github.com/dmplan/dmplan/spec"
)

// shardKey is the canonical text of spec.shardMode and spec.shardDDL.
func shardKey(m spec.ShardMode, d spec.ShardDDL) string {
	if m == "" && len(d.Resolve) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(string(m))
	for _, r := range d.Resolve {
		b.WriteString("\x00" + r.Table + "\x00" + r.DDL + "\x00" + r.Action)
	}
	return b.String()
}

// addShard lists spec.shardMode and each resolution as fields.
func addShard(f *fields, m spec.ShardMode, d spec.ShardDDL) {
	if m != "" {
		f.add("spec.shardMode", quote(string(m)))
	}
	for i, r := range d.Resolve {
		f.add("spec.shardDDL.resolve["+strconv.Itoa(i)+"]", r.Action+" "+quote(r.DDL)+" on "+r.Table)
	}
}
