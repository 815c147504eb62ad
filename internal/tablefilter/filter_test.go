package tablefilter

import (
	"slices"
	"testing"
)

func mustParse(t *testing.T, patterns ...string) Filter {
	t.Helper()
	f, err := Parse(patterns)
	if err != nil {
		t.Fatalf("Parse(%q): %v", patterns, err)
	}
	return f
}

func TestParseErrorNamesEveryPattern(t *testing.T) {
	_, err := Parse([]string{"shop.*", "shop", "!a-b.c"})
	want := `pattern 2 "shop": missing "." and table pattern after the database; want db.table (use db.* for every table)` + "\n" +
		`pattern 3 "!a-b.c": database pattern has '-', which must be escaped with \ or quoted`
	if err == nil || err.Error() != want {
		t.Fatalf("Parse error\n got: %v\nwant: %s", err, want)
	}
}

func TestFilterMatch(t *testing.T) {
	// The precedence example of TiDB's table-filter documentation.
	f := mustParse(t, "employees.*", "!*.dep*", "*.departments")
	tests := []struct {
		db, table string
		want      bool
	}{
		{"irrelevant", "table", false},
		{"employees", "employees", true},
		{"employees", "dept_emp", false},
		{"employees", "departments", true},
		{"else", "departments", true},
		{"Employees", "employees", false}, // case-sensitive
	}
	for _, tt := range tests {
		if got := f.Match(tt.db, tt.table); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.db, tt.table, got, tt.want)
		}
	}
}

func TestFilterDenyList(t *testing.T) {
	only := mustParse(t, "!*.Password")
	if only.Match("db", "t") || only.Match("db", "Password") {
		t.Errorf("a filter of excludes only must match nothing")
	}
	deny := mustParse(t, "*.*", "!*.Password", "!mysql.*")
	for _, tt := range []struct {
		db, table string
		want      bool
	}{
		{"db", "t", true},
		{"db", "Password", false},
		{"db", "password", true},
		{"mysql", "user", false},
	} {
		if got := deny.Match(tt.db, tt.table); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.db, tt.table, got, tt.want)
		}
	}
	var zero Filter
	if zero.Match("a", "b") || zero.MatchSchema("a") {
		t.Errorf("the zero Filter must match nothing")
	}
}

func TestFilterMatchSchema(t *testing.T) {
	tests := []struct {
		patterns []string
		db       string
		want     bool
	}{
		{[]string{"shop.*"}, "shop", true},
		{[]string{"shop.*"}, "shop2", false},
		{[]string{"shop_*.orders"}, "shop_eu", true},
		{[]string{"shop.*", "!shop.*"}, "shop", false},
		{[]string{"shop.*", "!*.*"}, "shop", false},
		{[]string{"shop.*", "!shop.tmp_*"}, "shop", true},
		{[]string{"shop.a", "!shop.a"}, "shop", false},
		{[]string{"shop.a", "!shop.?"}, "shop", false},
		{[]string{"shop.a", "!shop.b"}, "shop", true},
		{[]string{"!shop.*", "shop.a"}, "shop", true},
		{[]string{"*.*", "!mysql.*"}, "mysql", false},
		{[]string{"*.*", "!mysql.*"}, "shop", true},
		{[]string{"Shop.*"}, "shop", false},
		// Conservative: narrower excludes that together cover an include
		// are not recognised.
		{[]string{"shop.a*", "!shop.a1*", "!shop.a[!1]*", "!shop.a"}, "shop", true},
	}
	for _, tt := range tests {
		f := mustParse(t, tt.patterns...)
		if got := f.MatchSchema(tt.db); got != tt.want {
			t.Errorf("%q.MatchSchema(%q) = %v, want %v", tt.patterns, tt.db, got, tt.want)
		}
	}
}

func TestFilterStrings(t *testing.T) {
	f := mustParse(t, "`shop`.*", "!shop.`tmp`")
	if got, want := f.Strings(), []string{"shop.*", "!shop.tmp"}; !slices.Equal(got, want) {
		t.Errorf("Strings() = %q, want %q", got, want)
	}
	if n := len(f.Patterns()); n != 2 {
		t.Errorf("Patterns() has %d patterns, want 2", n)
	}
}

func TestFolded(t *testing.T) {
	f, err := Parse([]string{"Shop.*", "!shop.TMP_*", "`My.DB`.[A-C]x"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		db, table   string
		exact, fold bool
	}{
		{"Shop", "orders", true, true},
		{"shop", "Orders", false, true},
		{"SHOP", "tmp_1", false, false},
		{"Shop", "tmp_1", true, false},
		{"shop", "TMP_1", false, false},
		{"my.db", "bx", false, true},
		{"My.DB", "Bx", true, true},
	} {
		if got := f.Match(tc.db, tc.table); got != tc.exact {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.db, tc.table, got, tc.exact)
		}
		if got := f.Folded().Match(tc.db, tc.table); got != tc.fold {
			t.Errorf("Folded().Match(%q, %q) = %v, want %v", tc.db, tc.table, got, tc.fold)
		}
	}
	if f.MatchSchema("SHOP") || !f.Folded().MatchSchema("SHOP") {
		t.Error("MatchSchema does not fold as it should")
	}
	rt, err := ParseRoutes([]Route{{From: "Shop_*.Orders", To: "Shop.All_Orders"}})
	if err != nil {
		t.Fatal(err)
	}
	if db, tb := rt.Route("shop_1", "orders"); db != "shop_1" || tb != "orders" {
		t.Errorf("exact Route matched a name differing in case: %s.%s", db, tb)
	}
	if db, tb := rt.Folded().Route("SHOP_1", "orders"); db != "Shop" || tb != "All_Orders" {
		t.Errorf("Folded().Route = %s.%s, want Shop.All_Orders (targets keep their spelling)", db, tb)
	}
}
