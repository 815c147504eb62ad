package spec

import (
	"strings"
	"testing"
)

// TestShardMode: both modes load with their resolutions; an unknown mode
// and a merging route without a mode are errors at the line that says so.
func TestShardMode(t *testing.T) {
	route := "  routes: [{from: \"shop_*.orders_*\", to: shop.orders}]\n"
	for _, tt := range []struct {
		extra, mode, err string
	}{
		{route + "  shardMode: pessimistic\n", "pessimistic", ""},
		{route + "  shardMode: optimistic\n  shardDDL:\n    resolve:\n      - {table: shop.orders, ddl: 'ALTER  TABLE x DROP c', action: skip}\n", "optimistic", ""},
		{route + "  shardMode: careful\n", "", `x.yaml:13:14: spec.shardMode "careful" is not a shard mode (want pessimistic or optimistic)`},
		{route, "", "x.yaml:12:12: spec.routes[0] merges tables into shop.orders (its pattern shop_*.orders_* can match several tables): spec.shardMode is required"},
		{route + "  shardMode: optimistic\n  shardDDL:\n    resolve:\n      - {table: orders, ddl: x, action: undo}\n", "", `is not an action (want skip or execute)`},
	} {
		set, err := loadFiles(t, map[string]string{"a.yaml": validSource, "x.yaml": task(tt.extra)})
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.extra, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tt.extra, err)
		}
		if got := set.Tasks[0]; string(got.ShardMode) != tt.mode {
			t.Errorf("%q: mode %q", tt.extra, got.ShardMode)
		}
	}
	set, _ := loadFiles(t, map[string]string{"a.yaml": validSource, "x.yaml": task(route + "  shardMode: optimistic\n  shardDDL:\n    resolve:\n      - {table: shop.orders, ddl: 'ALTER  TABLE x DROP c', action: skip}\n")})
	if r := set.Tasks[0].ShardDDL.Resolve; len(r) != 1 || r[0].DDL != "ALTER TABLE x DROP c" || r[0].Action != "skip" {
		t.Errorf("resolve %+v", r)
	}
}
