package spec

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFiltersAndOnlineDDL: the rules are read canonical (patterns, event
// names) and in order; onlineDDL is on by default, off when false, and on
// with the user's rules when given as a mapping.
func TestFiltersAndOnlineDDL(t *testing.T) {
	for _, tt := range []struct {
		extra   string
		filters []FilterRule
		online  OnlineDDL
	}{
		{"", nil, OnlineDDL{}},
		{"  onlineDDL: false\n", nil, OnlineDDL{Off: true}},
		{"  onlineDDL: true\n", nil, OnlineDDL{}},
		{"  onlineDDL:\n    shadow: ['^(.+)_shadow$']\n", nil, OnlineDDL{Shadow: []string{"^(.+)_shadow$"}}},
		{"  filters:\n    - tables: [\"`shop`.orders\", shop.orders_*]\n      events: [DELETE, \"truncate  table\"]\n      sql: ['^ALTER TABLE .* DROP COLUMN']\n      action: ignore\n" +
			"    - tables: [shop.audit]\n      events: [all ddl]\n      action: error\n",
			[]FilterRule{
				{Tables: []string{"shop.orders", "shop.orders_*"}, Events: []string{"delete", "truncate table"}, SQL: []string{"^ALTER TABLE .* DROP COLUMN"}, Action: "ignore"},
				{Tables: []string{"shop.audit"}, Events: []string{"all ddl"}, Action: "error"},
			}, OnlineDDL{}},
	} {
		set, err := loadFiles(t, map[string]string{"a.yaml": validSource, "x.yaml": task(tt.extra)})
		if err != nil {
			t.Fatalf("%q: %v", tt.extra, err)
		}
		got := set.Tasks[0]
		if d := cmp.Diff(tt.filters, got.Filters); d != "" {
			t.Errorf("%q: filters (-want +got):\n%s", tt.extra, d)
		}
		if d := cmp.Diff(tt.online, got.OnlineDDL); d != "" {
			t.Errorf("%q: onlineDDL (-want +got):\n%s", tt.extra, d)
		}
	}
}
