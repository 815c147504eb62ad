package job

import (
	"strings"
	"testing"

	"github.com/dmplan/dmplan/internal/shardjoin"
)

// A record created again after its task's delete is seeded with shard
// definitions of sources that have not reported their shards yet: they
// count in the join beside the source's "source:*" base, so a narrower
// column of another shard does not narrow the target.
func TestShardSchemaOthersKnownShards(t *testing.T) {
	parse := func(cols string) shardjoin.Table {
		tb, err := shardjoin.Parse("CREATE TABLE `t` (\n  `id` bigint(20) NOT NULL" + cols + ",\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB")
		if err != nil {
			t.Fatal(err)
		}
		return tb
	}
	base := parse("")
	r := ShardSchema{Base: base, Sources: []string{"a", "b"},
		Expected: map[string][]string{"b": {"s.o3", "s.o4"}},
		Shards: map[string]ShardTable{
			"a:s.o1": {Table: parse(",\n  `note` varchar(20) DEFAULT NULL")},
			"b:s.o3": {Table: parse(",\n  `note` varchar(10) DEFAULT NULL")},
		}}
	var names []string
	for _, o := range r.Others("b:s.o3") {
		names = append(names, o.Name)
	}
	if got := strings.Join(names, " "); got != "a:* a:s.o1 b:s.o4" {
		t.Errorf("others of b:s.o3: %s", got)
	}
	if c, ok := r.Joined().Column("note"); !ok || !strings.Contains(c.Def, "varchar(20)") {
		t.Errorf("joined note: %+v %v", c, ok)
	}
}
