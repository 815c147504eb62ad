package planner

import (
	"math/rand/v2"
	"path"
	"testing"
)

// words lists every string over alphabet of length 0..n.
func words(alphabet string, n int) []string {
	out := []string{""}
	prev := []string{""}
	for range n {
		var next []string
		for _, w := range prev {
			for i := 0; i < len(alphabet); i++ {
				next = append(next, w+alphabet[i:i+1])
			}
		}
		out = append(out, next...)
		prev = next
	}
	return out
}

func randomGlob(r *rand.Rand) string {
	const syms = "ab*?"
	n := r.IntN(5)
	b := make([]byte, n)
	for i := range b {
		b[i] = syms[r.IntN(len(syms))]
	}
	return string(b)
}

// TestPartSubsetAndOverlap checks the pattern reasoning against brute force:
// partOverlap must be exact and partSubset sound (never true when a string
// matches p but not q). path.Match has the same '*' and '?' semantics for
// strings without '/'.
func TestPartSubsetAndOverlap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	all := words("abc", 6) // patterns of 4 symbols have 3 literals at most around a star: witnesses fit in 6
	for range 2000 {
		p, q := randomGlob(r), randomGlob(r)
		both, pNotQ := false, false
		for _, w := range all {
			mp, _ := path.Match(p, w)
			mq, _ := path.Match(q, w)
			both = both || (mp && mq)
			pNotQ = pNotQ || (mp && !mq)
		}
		if got := partOverlap(p, q); got != both {
			t.Errorf("partOverlap(%q, %q) = %v, brute force says %v", p, q, got, both)
		}
		if partSubset(p, q) && pNotQ {
			t.Errorf("partSubset(%q, %q) = true, but a string matches %q and not %q", p, q, p, q)
		}
	}
}

func TestPartSubsetKnownCases(t *testing.T) {
	for _, c := range []struct {
		p, q string
		want bool
	}{
		{"refunds*", "*", true},
		{"refunds*", "ref*", true},
		{"ref*", "refunds*", false},
		{"tmp_?", "tmp_*", true},
		{"orders", "orders", true},
		{"orders", "order?", true},
		{"*", "?*", false},
		{"a*b", "a*", true},
	} {
		if got := partSubset(c.p, c.q); got != c.want {
			t.Errorf("partSubset(%q, %q) = %v, want %v", c.p, c.q, got, c.want)
		}
	}
}

func TestGlobConservativeForUnmodelledSyntax(t *testing.T) {
	q := parseGlob("`shop.x`.*")
	p := parseGlob("shop.*")
	if q.exact {
		t.Fatal("a quoted pattern is not modelled exactly")
	}
	if globSubset(q, p) || globSubset(p, q) {
		t.Error("containment claimed for an unmodelled pattern")
	}
	if !globOverlap(q, parseGlob("crm.x")) {
		t.Error("an unmodelled pattern must be assumed to overlap")
	}
	if !globSubset(q, q) {
		t.Error("a pattern contains itself")
	}
}
