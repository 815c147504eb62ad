package planner

import (
	"bytes"
	"testing"

	"github.com/dmplan/dmplan/internal/golden"
)

// The refresh section of plan --refresh, in the three renderings: tables
// newly selected and deselected with estimates and copy time, precheck
// errors and warnings, drift, and refresh errors apart from the facts.
func TestRefreshGolden(t *testing.T) {
	p := &Plan{Changes: []Change{{Kind: KindSubtask, Name: "shop/mysql-01", Action: Update,
		Fields: []FieldChange{{Path: "tables", Before: `["shop.orders"]`, After: `["shop.*"]`}}}},
		Refresh: &Refresh{
			Subtasks: []SubtaskFacts{
				{Subtask: "shop/mysql-01",
					Selected: []TableFacts{
						{Table: "shop.refunds", Rows: 1204311, Bytes: 312 << 20},
						{Table: "shop_2.refunds_2", Target: "shop.refunds", Rows: 4311, Bytes: 2 << 20},
					},
					Deselected:  []TableFacts{{Table: "shop.tmp_x", Rows: 10, Bytes: 16 << 10}},
					CopySeconds: 4.93, CopyRate: 245000,
					Checks: []Check{
						{Level: "error", Message: "source dmplan@127.0.0.1:3306: binlog_row_image is MINIMAL, sync needs FULL: SET GLOBAL binlog_row_image = 'FULL'; and binlog_row_image=FULL in the config file"},
						{Level: "warning", Message: "table `shop`.`logs` has no primary key or NOT NULL unique key: add a key"},
						{Level: "error", Message: "foreign key `items_order` of `shop`.`items` (order_id) -> `shop`.`orders` (id) ON DELETE CASCADE ON UPDATE RESTRICT: the target table `shop`.`items` has no such foreign key to `shop`.`orders`, so the rows of `shop`.`items` its changes cascade to would diverge: add the same foreign key to the target table"},
					},
					ForeignKeys: &ForeignKeyFacts{Cascading: 2, Unreproduced: 1},
					Drift:       []string{"target table shop.orders: note is varchar(40), the source's varchar(20)"},
				},
				{Subtask: "shop/mysql-02", Drift: []string{"target of task shop (root@127.0.0.1:4000) is unreachable: dial tcp 127.0.0.1:4000: connect: connection refused"}},
				{Subtask: "users/mysql-01"},
				{Subtask: "users/mysql-03", ForeignKeys: &ForeignKeyFacts{Cascading: 1, Accepted: []string{"`users`.`audit`"}}},
				{Subtask: "users/mysql-04", ForeignKeys: &ForeignKeyFacts{Cascading: 3}},
			},
			Errors: []string{"subtask users/mysql-02: $SRC2_PW is not set (the password of source mysql-02): export it or pass --env-file"},
		}}
	var txt, md, js bytes.Buffer
	if err := RenderText(&txt, p, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := RenderMarkdown(&md, p); err != nil {
		t.Fatal(err)
	}
	if err := RenderJSON(&js, p); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "planner/refresh/plan.txt", txt.Bytes())
	golden.Check(t, "planner/refresh/plan.md", md.Bytes())
	golden.Check(t, "planner/refresh/plan.json", js.Bytes())
	if !p.Refresh.HasErrors() {
		t.Fatal("HasErrors: false")
	}
	// Never saved in a plan file: apply of a saved plan does not depend on it.
	var file bytes.Buffer
	if err := WriteFile(&file, SealSecrets(p, State{})); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(file.Bytes(), []byte("refunds")) {
		t.Fatal("the plan file holds the refresh")
	}
}
