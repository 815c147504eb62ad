package main

import (
	"strings"
	"testing"

	"github.com/dmplan/dmplan/internal/statusview"
	"github.com/dmplan/dmplan/internal/store"
)

// TestLiveFactsValidation: rows validation found differing are a live
// fact of the plan, with a few of their keys.
func TestLiveFactsValidation(t *testing.T) {
	v := statusview.View{Subtasks: []statusview.Subtask{
		{Task: "shop", Source: "mysql-01", Stage: "running", DesiredStage: "running", InSync: true,
			Validation: &store.Validation{Mode: "full", Failed: 4, Rows: []store.ValidationRow{
				{Table: "shop.orders", Key: "id=3", Kind: "changed"}, {Table: "shop.orders", Key: "id=4", Kind: "missing"},
				{Table: "shop.items", Key: "id=1", Kind: "extra"}, {Table: "shop.items", Key: "id=2", Kind: "extra"}}}},
		{Task: "shop", Source: "mysql-02", Stage: "running", DesiredStage: "running", InSync: true,
			Validation: &store.Validation{Mode: "fast", Checked: 10}},
	}}
	got := liveFacts(v)
	want := "subtask shop/mysql-01: validation (full) found 4 rows differ on the target: shop.orders id=3 (changed), " +
		"shop.orders id=4 (missing), shop.items id=1 (extra), …; dmplan status lists them, dmplan verify shop --fix-sql FILE writes the repair"
	if len(got) != 1 || got[0] != want {
		t.Fatalf("live facts:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
}
