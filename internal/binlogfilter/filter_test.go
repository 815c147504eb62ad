package binlogfilter

import (
	"strings"
	"testing"

	"github.com/dmplan/dmplan/internal/deptest"
)

func TestPure(t *testing.T) {
	deptest.Pure(t)
	deptest.Only(t, "github.com/dmplan/dmplan/internal/tablefilter")
}

// issueRules are the rules of the issue's example and DM's documentation.
var issueRules = []Rule{
	{Tables: []string{"shop.orders", "shop_*.orders_*"}, Events: []string{"delete", "truncate table"}, SQL: []string{`^ALTER TABLE .* DROP COLUMN`}, Action: Ignore},
	{Tables: []string{"shop.audit"}, Events: []string{"all ddl"}, Action: Error},
	{Tables: []string{"test_*.t_*"}, Events: []string{"create table", "all dml"}, Action: Do},
	{Tables: []string{"test_*.*"}, Events: []string{"create database"}, Action: Do},
	{Tables: []string{"logs.*"}, SQL: []string{`(?i)^CREATE\s+INDEX`}, Action: Do},
}

func TestDecide(t *testing.T) {
	f, err := New(issueRules)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		ev        Event
		db, table string
		sql       string
		want      Action
		rule      int
	}{
		{Insert, "shop", "orders", "", Pass, -1},
		{Update, "shop", "orders", "", Pass, -1},
		{Delete, "shop", "orders", "", Ignore, 0},
		{Delete, "shop_eu", "orders_2", "", Ignore, 0},
		{Delete, "shop", "items", "", Pass, -1},
		{TruncateTable, "shop", "orders", "TRUNCATE TABLE orders", Ignore, 0},
		{AlterTable, "shop", "orders", "ALTER TABLE shop.orders DROP COLUMN x", Ignore, 0},
		{AlterTable, "shop", "orders", "ALTER TABLE shop.orders ADD COLUMN x INT", Pass, -1},
		{AlterTable, "shop", "audit", "ALTER TABLE audit ADD x INT", Error, 1},
		{Insert, "shop", "audit", "", Pass, -1},
		// do rules: only the listed events pass on the tables they match.
		{CreateTable, "test_1", "t_1", "CREATE TABLE t_1 (id INT)", Pass, -1},
		{Delete, "test_1", "t_1", "", Pass, -1},
		{DropTable, "test_1", "t_1", "DROP TABLE t_1", Ignore, 2},
		{AlterTable, "test_1", "t_1", "ALTER TABLE t_1 ADD x INT", Ignore, 2},
		// A database statement is matched by "db.*" rules only.
		{CreateDatabase, "test_1", "", "CREATE DATABASE test_1", Pass, -1},
		{DropDatabase, "test_1", "", "DROP DATABASE test_1", Ignore, 3},
		{DropDatabase, "shop", "", "DROP DATABASE shop", Pass, -1},
		// A table of test_1 that test_*.t_* does not match: only "create database" is listed by test_*.*.
		{Insert, "test_1", "other", "", Ignore, 3},
		// do with expressions only: row changes pass, statements must match.
		{Insert, "logs", "l1", "", Pass, -1},
		{CreateIndex, "logs", "l1", "create index i on l1 (a)", Pass, -1},
		{AlterTable, "logs", "l1", "ALTER TABLE l1 ADD x INT", Ignore, 4},
		{Insert, "crm", "users", "", Pass, -1},
	} {
		got := f.Decide(tt.ev, tt.db, tt.table, tt.sql)
		if got.Action != tt.want || got.Rule != tt.rule {
			t.Errorf("Decide(%s, %s.%s, %q) = %+v, want {%s %d}", tt.ev, tt.db, tt.table, tt.sql, got, tt.want, tt.rule)
		}
	}
	var none *Filter
	if d := none.Decide(Delete, "a", "b", ""); d.Action != Pass {
		t.Errorf("nil filter: %+v", d)
	}
}

// TestPrecedence: ignore before error before do, as DM.
func TestPrecedence(t *testing.T) {
	f, err := New([]Rule{
		{Tables: []string{"a.t"}, Events: []string{"insert"}, Action: Do},
		{Tables: []string{"a.*"}, SQL: []string{"^DROP"}, Action: Error},
		{Tables: []string{"a.t"}, SQL: []string{"^DROP TABLE"}, Action: Ignore},
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := f.Decide(DropTable, "a", "t", "DROP TABLE t"); d != (Decision{Ignore, 2}) {
		t.Errorf("ignore should win: %+v", d)
	}
	if d := f.Decide(DropTable, "a", "u", "DROP TABLE u"); d != (Decision{Error, 1}) {
		t.Errorf("error should stop: %+v", d)
	}
	if d := f.Decide(DropIndex, "a", "t", "DROP INDEX i ON t"); d != (Decision{Error, 1}) {
		t.Errorf("error before do: %+v", d)
	}
	if d := f.Decide(Update, "a", "t", ""); d != (Decision{Ignore, 0}) {
		t.Errorf("do drops what it does not list: %+v", d)
	}
}

func TestFolded(t *testing.T) {
	f, err := New([]Rule{{Tables: []string{"Shop.Orders"}, Events: []string{"delete"}, Action: Ignore}})
	if err != nil {
		t.Fatal(err)
	}
	if d := f.Decide(Delete, "shop", "orders", ""); d.Action != Pass {
		t.Errorf("case-sensitive filter matched another case: %+v", d)
	}
	if d := f.Folded().Decide(Delete, "SHOP", "orders", ""); d.Action != Ignore {
		t.Errorf("folded filter: %+v", d)
	}
}

func TestNewErrors(t *testing.T) {
	for _, r := range []Rule{
		{Tables: []string{"a.*"}, Events: []string{"insert"}, Action: "skip"},
		{Tables: []string{"!a.*"}, Events: []string{"insert"}, Action: Ignore},
		{Tables: []string{"a.*"}, Events: []string{"upsert"}, Action: Ignore},
		{Tables: []string{"a.*"}, SQL: []string{"(?<=x)"}, Action: Ignore}, // not RE2
	} {
		if _, err := New([]Rule{r}); err == nil || !strings.HasPrefix(err.Error(), "filters[0]") {
			t.Errorf("New(%+v) = %v, want an error naming filters[0]", r, err)
		}
	}
}

func TestExpand(t *testing.T) {
	if got := Expand("ALL  DML"); len(got) != 3 {
		t.Errorf("all dml = %v", got)
	}
	if got := Expand("all"); len(got) != 13 {
		t.Errorf("all = %v", got)
	}
	if Expand("alter database") != nil || Canonical("Truncate Table") != "truncate table" || Canonical("x") != "" {
		t.Error("names")
	}
	if e, ok := OfStatement("ALTER TABLE"); !ok || e != AlterTable {
		t.Error("OfStatement")
	}
}

func TestContradictions(t *testing.T) {
	for _, tt := range []struct {
		name  string
		rules []Rule
		want  string // "" for none
	}{
		{"issue rules", issueRules, ""},
		{"do and ignore of one event", []Rule{
			{Tables: []string{"shop.*"}, Events: []string{"all dml"}, Action: Do},
			{Tables: []string{"shop.logs"}, Events: []string{"delete"}, Action: Ignore},
		}, `filters[0] (do) and filters[1] (ignore) contradict each other on the tables matching both shop.* and shop.logs: both list "delete"`},
		{"ignore and error", []Rule{
			{Tables: []string{"shop.orders"}, Events: []string{"drop table"}, Action: Ignore},
			{Tables: []string{"shop.orders"}, Events: []string{"all ddl"}, Action: Error},
		}, `filters[0] (ignore) and filters[1] (error) contradict each other on shop.orders: both list "drop table"`},
		{"disjoint tables", []Rule{
			{Tables: []string{"shop.a*"}, Events: []string{"delete"}, Action: Do},
			{Tables: []string{"shop.b*"}, Events: []string{"delete"}, Action: Ignore},
		}, ""},
		{"disjoint events", []Rule{
			{Tables: []string{"shop.*"}, Events: []string{"insert"}, Action: Do},
			{Tables: []string{"shop.*"}, Events: []string{"delete"}, Action: Error},
		}, ""},
		{"same action", []Rule{
			{Tables: []string{"shop.*"}, Events: []string{"delete"}, Action: Ignore},
			{Tables: []string{"shop.x"}, Events: []string{"delete"}, Action: Ignore},
		}, ""},
		{"expressions are not compared", []Rule{
			{Tables: []string{"shop.*"}, SQL: []string{"^DROP"}, Action: Ignore},
			{Tables: []string{"shop.*"}, SQL: []string{"^DROP"}, Action: Error},
		}, ""},
	} {
		got := Contradictions(tt.rules)
		switch {
		case tt.want == "" && len(got) > 0:
			t.Errorf("%s: unexpected %v", tt.name, got[0])
		case tt.want != "" && len(got) == 0:
			t.Errorf("%s: no contradiction found", tt.name)
		case tt.want != "" && !strings.HasPrefix(got[0].Error(), tt.want):
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got[0].Error(), tt.want)
		}
	}
}

func TestUnselected(t *testing.T) {
	tables := []string{"shop.*", "!shop.tmp_*", "!shop.secret", "crm.users", "!hr.*", "hr.x*"}
	for _, tt := range []struct {
		rule []string
		want []int
	}{
		{[]string{"shop.orders", "shop_*.orders"}, []int{1}},
		{[]string{"shop.secret"}, []int{0}},
		{[]string{"shop.tmp_1"}, []int{0}},
		{[]string{"shop.tmp_*"}, []int{0}}, // the very pattern excluded
		{[]string{"crm.*"}, nil},           // overlaps crm.users
		{[]string{"crm.orders"}, []int{0}},
		{[]string{"hr.*"}, nil}, // hr.x* comes after !hr.*
		{[]string{"*.*"}, nil},
		{[]string{"sales.*"}, []int{0}},
	} {
		got := Unselected(tt.rule, tables)
		if len(got) != len(tt.want) || len(got) > 0 && got[0] != tt.want[0] {
			t.Errorf("Unselected(%v) = %v, want %v", tt.rule, got, tt.want)
		}
	}
	if got := Unselected([]string{"crm.*"}, []string{"crm.*", "!crm.*"}); len(got) != 1 {
		t.Errorf("a database excluded after its include: %v", got)
	}
}

func TestDescribe(t *testing.T) {
	for i, want := range []string{
		"drops delete, truncate table and statements matching '^ALTER TABLE .* DROP COLUMN' on shop.orders, shop_*.orders_*",
		"stops the subtask at all ddl on shop.audit",
		"passes only create table, all dml on test_*.t_* (their other events are dropped)",
	} {
		if got := Describe(issueRules[i]); got != want {
			t.Errorf("Describe(rule %d):\n got %s\nwant %s", i, got, want)
		}
	}
}
