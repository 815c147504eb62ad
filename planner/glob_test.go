package planner

import (
	"math/rand/v2"
	"path"
	"slices"
	"testing"

	"github.com/dmplan/dmplan/internal/tablefilter"
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

// TestPartSubset checks the containment reasoning against brute force:
// partSubset must be sound (never true when a string matches p but not q).
// path.Match has the same '*' and '?' semantics for strings without '/'.
// (Overlap is tablefilter's, with its own brute-force test.)
func TestPartSubset(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	all := words("abc", 6) // patterns of 4 symbols have 3 literals at most around a star: witnesses fit in 6
	for range 2000 {
		p, q := randomGlob(r), randomGlob(r)
		pNotQ := false
		for _, w := range all {
			mp, _ := path.Match(p, w)
			mq, _ := path.Match(q, w)
			pNotQ = pNotQ || (mp && !mq)
		}
		if partSubset(syms(p), syms(q)) && pNotQ {
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
		if got := partSubset(syms(c.p), syms(c.q)); got != c.want {
			t.Errorf("partSubset(%q, %q) = %v, want %v", c.p, c.q, got, c.want)
		}
	}
}

// syms reads a part of literals, '*' and '?' as symbols.
func syms(s string) []rune {
	var out []rune
	for _, r := range s {
		switch r {
		case '*':
			out = append(out, symStar)
		case '?':
			out = append(out, symAny)
		default:
			out = append(out, r)
		}
	}
	return out
}

// TestParseGlob: patterns are split where tablefilter says the database
// part ends, and each part is read as literal characters, '?' and '*'.
func TestParseGlob(t *testing.T) {
	lit := func(s string) []rune { return []rune(s) } // every character literal, '*' too
	tests := []struct {
		pattern   string
		db, table []rune // nil: the part is not modelled
	}{
		{"shop.*", lit("shop"), syms("*")},
		{"`my.db`.`t*`", lit("my.db"), lit("t*")},
		{"my\\.db.t?", lit("my.db"), syms("t?")},
		{"\"x.y\".`a``b`", lit("x.y"), lit("a`b")},
		{"`shop`.orders_*", lit("shop"), syms("orders_*")},
		{"shop.t\\*x*", lit("shop"), append(lit("t*x"), symStar)},
		{"été.*", lit("été"), syms("*")},
		{"shop.t[ab]", lit("shop"), nil},
		{"`d.b`.[!x]*", lit("d.b"), nil},
	}
	for _, tt := range tests {
		g := parseGlob(tt.pattern)
		if g.opaque {
			t.Errorf("parseGlob(%q) is opaque", tt.pattern)
			continue
		}
		for _, c := range []struct {
			part globPart
			want []rune
		}{{g.db, tt.db}, {g.table, tt.table}} {
			if c.part.exact != (c.want != nil) || !slices.Equal(c.part.syms, c.want) {
				t.Errorf("parseGlob(%q): part %q is %v (modelled %v), want %v", tt.pattern, c.part.text, c.part.syms, c.part.exact, c.want)
			}
		}
	}
}

func TestGlobQuotedDottedNames(t *testing.T) {
	for _, c := range []struct {
		p, q             string
		subset, overlaps bool
	}{
		{"`my.db`.orders", "`my.db`.*", true, true},
		{"`my.db`.*", "my.*", false, false},    // database "my.db" is not "my"
		{"`my.db`.*", "my*.*", true, true},     // but it matches my*
		{"my\\.db.*", "`my.db`.*", true, true}, // the same pattern, spelled another way
		{"`shop.x`.*", "shop.*", false, false}, // the old first-dot split saw database "`shop"
		{"shop.`x.y`", "shop.x*", true, true},  // table "x.y" starts with x
		{"shop.x*", "shop.`x.y`", false, true},
		{"`a.b`.`c.d`", "a.`b.c`", false, false},
		{"`t*`.x", "t?.x", true, true}, // the name "t*" has two characters
		{"t?.x", "`t*`.x", false, true},
	} {
		p, q := parseGlob(c.p), parseGlob(c.q)
		if got := globSubset(p, q); got != c.subset {
			t.Errorf("globSubset(%s, %s) = %v, want %v", c.p, c.q, got, c.subset)
		}
		if got := globOverlap(p, q); got != c.overlaps {
			t.Errorf("globOverlap(%s, %s) = %v, want %v", c.p, c.q, got, c.overlaps)
		}
	}
}

func TestGlobConservativeForClassesAndBadPatterns(t *testing.T) {
	class := parseGlob("shop.t[ab]")
	if globSubset(class, parseGlob("shop.t*")) {
		t.Error("containment in shop.t* claimed for a [class] part, which is not modelled")
	}
	if !globSubset(class, parseGlob("shop.*")) || !globSubset(class, parseGlob("*.*")) {
		t.Error("every part is contained in *")
	}
	if globOverlap(class, parseGlob("crm.*")) {
		t.Error("the database parts are literal and differ: no overlap")
	}
	if globOverlap(class, parseGlob("shop.x")) || !globOverlap(class, parseGlob("shop.tb")) || !globOverlap(class, parseGlob("shop.t?")) {
		t.Error("overlap with a [class] part is decided by its characters")
	}
	bad := parseGlob("shop")
	if !bad.opaque || globSubset(bad, parseGlob("*.*")) || !globOverlap(bad, parseGlob("crm.x")) || !globSubset(bad, bad) {
		t.Errorf("a pattern that does not parse must be opaque: %+v", bad)
	}
}

// TestGlobAgainstTablefilter checks the reasoning against tablefilter's own
// matching, by brute force over names with dots, quotes, stars and non-ASCII
// characters: overlap must be exact for modelled patterns and never false
// when a table matches both, and containment never true when a table
// matches p but not q.
func TestGlobAgainstTablefilter(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	names := words("a.*`é?", 3)
	parts := []string{"*", "a", "a*", "?", "a?*", "`a.`", "`.`", "`*`", "\\*", "a\\.*", "`é`", "é*", "[a.]", "[!a]*", "??", "`a``*`", "\\`?", "a\\?"}
	// matches[k][i]: part k matches names[i]
	matches := make([][]bool, len(parts))
	for k, part := range parts {
		p, err := tablefilter.ParsePattern(part + ".x")
		if err != nil {
			t.Fatalf("part %s: %v", part, err)
		}
		for _, name := range names {
			matches[k] = append(matches[k], p.Match(name, "x"))
		}
	}
	meets := func(a, b []bool) bool { // some name is in both
		for i := range a {
			if a[i] && b[i] {
				return true
			}
		}
		return false
	}
	within := func(a, b []bool) bool { // every name of a is in b
		for i := range a {
			if a[i] && !b[i] {
				return false
			}
		}
		return true
	}
	for range 5000 {
		pd, pt, qd, qt := r.IntN(len(parts)), r.IntN(len(parts)), r.IntN(len(parts)), r.IntN(len(parts))
		ps, qs := parts[pd]+"."+parts[pt], parts[qd]+"."+parts[qt]
		both := meets(matches[pd], matches[qd]) && meets(matches[pt], matches[qt])
		pNotQ := slices.Contains(matches[pd], true) && slices.Contains(matches[pt], true) &&
			(!within(matches[pd], matches[qd]) || !within(matches[pt], matches[qt]))
		gp, gq := parseGlob(ps), parseGlob(qs)
		exact := gp.db.exact && gp.table.exact && gq.db.exact && gq.table.exact
		if got := globOverlap(gp, gq); got != both && (exact || !got) {
			t.Errorf("globOverlap(%s, %s) = %v, brute force says %v", ps, qs, got, both)
		}
		if globSubset(gp, gq) && pNotQ {
			t.Errorf("globSubset(%s, %s) = true, but a table matches %s and not %s", ps, qs, ps, qs)
		}
	}
}
