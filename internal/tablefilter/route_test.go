package tablefilter

import "testing"

func TestParseRouteErrors(t *testing.T) {
	tests := []struct {
		in   Route
		want string
	}{
		{Route{"shop_*.orders_*", "shop.*"}, `to "shop.*": must be a concrete db.table, without wildcards or "!"`},
		{Route{"shop_*.orders_*", "!shop.orders"}, `to "!shop.orders": must be a concrete db.table, without wildcards or "!"`},
		{Route{"shop_*.orders_*", "shop"}, `to "shop": missing "." and table pattern after the database; want db.table (use db.* for every table)`},
		{Route{"!shop.*", "shop.orders"}, `from "!shop.*": must not start with "!"; a route has no excludes`},
		{Route{"shop-1.*", "shop.orders"}, `from "shop-1.*": database pattern has '-', which must be escaped with \ or quoted`},
		{Route{"", "shop.orders"}, `from "": empty pattern; want db.table`},
	}
	for _, tt := range tests {
		_, err := ParseRoute(tt.in)
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseRoute(%+v) error\n got: %v\nwant: %s", tt.in, err, tt.want)
		}
	}
	_, err := ParseRoutes([]Route{{"a.b", "c.d"}, {"a.*", "c.*"}})
	if want := `route 2: to "c.*": must be a concrete db.table, without wildcards or "!"`; err == nil || err.Error() != want {
		t.Errorf("ParseRoutes error\n got: %v\nwant: %s", err, want)
	}
}

func TestRouter(t *testing.T) {
	rt, err := ParseRoutes([]Route{
		{From: "shop_*.orders_*", To: "shop.orders"},
		{From: "shop_eu.*", To: "eu.all"},
		{From: "`a.b`.c", To: "`x.y`.z"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ db, table, wantDB, wantTable string }{
		{"shop_eu", "orders_2024", "shop", "orders"}, // first match wins
		{"shop_eu", "customers", "eu", "all"},
		{"shop_us", "orders_1", "shop", "orders"},
		{"shop_us", "customers", "shop_us", "customers"}, // unmatched keeps its name
		{"Shop_us", "orders_1", "Shop_us", "orders_1"},   // case-sensitive
		{"a.b", "c", "x.y", "z"},
	}
	for _, tt := range tests {
		db, table := rt.Route(tt.db, tt.table)
		if db != tt.wantDB || table != tt.wantTable {
			t.Errorf("Route(%q, %q) = %q, %q, want %q, %q", tt.db, tt.table, db, table, tt.wantDB, tt.wantTable)
		}
	}
	var zero Router
	if db, table := zero.Route("a", "b"); db != "a" || table != "b" {
		t.Errorf("zero Router renamed a.b to %s.%s", db, table)
	}
}

func TestRouteCanonical(t *testing.T) {
	r, err := ParseRoute(Route{From: "`shop_1`.`orders`", To: `"x.y".z`})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Route(), (Route{From: "shop_1.orders", To: "`x.y`.z"}); got != want {
		t.Errorf("Route() = %+v, want %+v", got, want)
	}
}
