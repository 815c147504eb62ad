package tablefilter

import (
	"math/rand/v2"
	"path"
	"testing"
)

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

// TestOverlapBruteForce checks Overlap against every table name up to six
// characters over a small alphabet, for random table parts of literals,
// '?' and '*' (path.Match has the same semantics for names without '/').
func TestOverlapBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	names := []string{""}
	for prev, n := []string{""}, 0; n < 6; n++ {
		var next []string
		for _, w := range prev {
			for _, c := range "abc" {
				next = append(next, w+string(c))
			}
		}
		names, prev = append(names, next...), next
	}
	part := func() string {
		b := make([]byte, 1+r.IntN(4))
		for i := range b {
			b[i] = "ab*?"[r.IntN(4)]
		}
		return string(b)
	}
	for range 2000 {
		ps, qs := part(), part()
		both := false
		for _, w := range names[1:] {
			mp, _ := path.Match(ps, w)
			mq, _ := path.Match(qs, w)
			both = both || (mp && mq)
		}
		p, err := ParsePattern("d." + ps)
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParsePattern("d." + qs)
		if err != nil {
			t.Fatal(err)
		}
		if got := Overlap(p, q); got != both {
			t.Errorf("Overlap(d.%s, d.%s) = %v, brute force says %v", ps, qs, got, both)
		}
	}
}
