package tablefilter

import "testing"

func TestOverlap(t *testing.T) {
	for _, tt := range []struct {
		p, q string
		want bool
	}{
		{"shop.orders", "shop.orders", true},
		{"shop.orders", "shop.*", true},
		{"shop.orders", "crm.*", false},
		{"shop_*.orders_*", "shop_eu.orders_1", true},
		{"shop_*.orders_*", "shop_eu.items", false},
		{"shop.a*", "shop.*b", true},
		{"shop.a*", "shop.b*", false},
		{"shop.a?c", "shop.abc", true},
		{"shop.a?c", "shop.abcd", false},
		{"shop.[ab]x", "shop.cx", false},
		{"shop.[ab]x", "shop.bx", true},
		{"shop.[!a]x", "shop.ax", false},
		{"shop.[ab]x", "shop.[cd]x", true}, // classes are assumed to meet
		{"*.*", "`my.db`.t", true},
		{"`my.db`.t", "my.*", false},
		{"`my.db`.t", "my\\.db.t", true},
	} {
		p, err := ParsePattern(tt.p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParsePattern(tt.q)
		if err != nil {
			t.Fatal(err)
		}
		if got := Overlap(p, q); got != tt.want {
			t.Errorf("Overlap(%s, %s) = %v, want %v", tt.p, tt.q, got, tt.want)
		}
		if got := Overlap(q, p); got != tt.want {
			t.Errorf("Overlap(%s, %s) = %v, want %v", tt.q, tt.p, got, tt.want)
		}
	}
	all, _ := ParsePattern("shop.*")
	one, _ := ParsePattern("shop.o*")
	if !all.AllTables() || one.AllTables() {
		t.Error("AllTables: want shop.* true, shop.o* false")
	}
}
