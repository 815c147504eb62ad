package planner

import (
	"math/rand/v2"
	"path"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dmplan/dmplan/internal/tablefilter"
)

func TestCompareFilters(t *testing.T) {
	tests := []struct {
		name        string
		old, new    []string
		added, gone []string
	}{
		{
			name:  "an include is appended",
			old:   []string{"shop.orders", "shop.users"},
			new:   []string{"shop.orders", "shop.users", "shop.refunds*"},
			added: []string{"tables newly matched by shop.refunds*"},
		},
		{
			name: "an include already covered by a wider one changes nothing",
			old:  []string{"shop.*", "!shop.tmp_*"},
			new:  []string{"shop.*", "!shop.tmp_*", "shop.refunds*"},
		},
		{
			name:  "an exclude is removed",
			old:   []string{"shop.*", "!shop.tmp_*"},
			new:   []string{"shop.*"},
			added: []string{"tables matching shop.tmp_*, newly matched by shop.* (excluded by !shop.tmp_* before)"},
		},
		{
			name: "an exclude is added",
			old:  []string{"shop.*"},
			new:  []string{"shop.*", "!shop.tmp_*"},
			gone: []string{"tables matching shop.tmp_*, no longer matched by shop.* (now excluded by !shop.tmp_*)"},
		},
		{
			name:  "a wide include replaces a single table, with an exclude",
			old:   []string{"shop.orders"},
			new:   []string{"shop.*", "!shop.tmp_*"},
			added: []string{"tables newly matched by shop.* except shop.orders (already matched), shop.tmp_* (excluded)"},
		},
		{
			name: "two excludes removed: one line each",
			old:  []string{"shop.*", "!shop.tmp_*", "!shop.bak_*"},
			new:  []string{"shop.*"},
			added: []string{
				"tables matching shop.tmp_*, newly matched by shop.* (excluded by !shop.tmp_* before)",
				"tables matching shop.bak_*, newly matched by shop.* (excluded by !shop.bak_* before)",
			},
		},
		{
			name:  "database switched",
			old:   []string{"shop.*"},
			new:   []string{"crm.*"},
			added: []string{"tables newly matched by crm.*"},
			gone:  []string{"tables no longer matched by shop.* (no pattern matches them now)"},
		},
		{
			name: "an include removed but covered by another",
			old:  []string{"shop.*", "shop.orders"},
			new:  []string{"shop.*"},
		},
		{
			name: "an include narrowed",
			old:  []string{"shop.order*"},
			new:  []string{"shop.orders"},
			gone: []string{"tables no longer matched by shop.order* (no pattern matches them now) except shop.orders (still matched)"},
		},
		{
			name: "order matters: exclude moved before the include",
			old:  []string{"shop.*", "!shop.tmp_*"},
			new:  []string{"!shop.tmp_*", "shop.*"},
			added: []string{
				"tables matching shop.tmp_*, newly matched by shop.* (excluded by !shop.tmp_* before)",
			},
		},
		// Quoted names with dots: the database part ends where tablefilter
		// says, not at the first dot.
		{
			name:  "a database with a dot in its name is not the database before the dot",
			old:   []string{"`my.db`.*"},
			new:   []string{"`my.db`.*", "my.*"},
			added: []string{"tables newly matched by my.*"},
		},
		{
			name: "an exclude of another database changes nothing",
			old:  []string{"shop.*"},
			new:  []string{"shop.*", "!`shop.x`.*"},
		},
		{
			name: "an exclude of a database that only shares a prefix with the dot changes nothing",
			old:  []string{"`a.b`.*"},
			new:  []string{"`a.b`.*", "!a.*"},
		},
		{
			name: "a quoted table removed, not covered by the database before its dot",
			old:  []string{"a.*", "`a.b`.c"},
			new:  []string{"a.*"},
			gone: []string{"tables no longer matched by `a.b`.c (no pattern matches them now)"},
		},
		{
			name:  "a quoted database widened, with an exclude",
			old:   []string{"`shop.eu`.orders"},
			new:   []string{"`shop.eu`.*", "!`shop.eu`.tmp_*"},
			added: []string{"tables newly matched by `shop.eu`.* except `shop.eu`.orders (already matched), `shop.eu`.tmp_* (excluded)"},
		},
		{
			name:  "an exclude of a quoted table with a dot removed",
			old:   []string{"shop.*", "!shop.`t.x`"},
			new:   []string{"shop.*"},
			added: []string{"tables matching shop.`t.x`, newly matched by shop.* (excluded by !shop.`t.x` before)"},
		},
		{
			name: "an exclude of a quoted table outside the include changes nothing",
			old:  []string{"shop.t*"},
			new:  []string{"shop.t*", "!shop.`x.t`"},
		},
		{
			name:  "a quoted star is a literal character",
			old:   []string{"`my.db`.`t*`"},
			new:   []string{"`my.db`.*", "!`my.db`.`t*`"},
			added: []string{"tables newly matched by `my.db`.* except `my.db`.`t*`"},
			gone:  []string{"tables no longer matched by `my.db`.`t*` (now excluded by !`my.db`.`t*`)"},
		},
		{
			name: "two spellings of one pattern are one pattern",
			old:  []string{"my\\.db.*", "!`my.db`.tmp"},
			new:  []string{"`my.db`.*", "!my\\.db.tmp"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := compareFilters(tt.old, tt.new)
			var added, gone []string
			for _, g := range d.Added {
				added = append(added, groupDesc(g, true))
			}
			for _, g := range d.Dropped {
				gone = append(gone, groupDesc(g, false))
			}
			if diff := cmp.Diff(tt.added, added); diff != "" {
				t.Errorf("added (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.gone, gone); diff != "" {
				t.Errorf("dropped (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompareFiltersTooMany(t *testing.T) {
	var old []string
	for i := range maxFilterPatterns + 1 {
		old = append(old, "db.t"+strings.Repeat("x", i))
	}
	if d := compareFilters(old, old[:1]); !d.Complex {
		t.Errorf("a filter with %d patterns must be reported as not analysed", len(old))
	}
}

// matchFilter evaluates a filter the way tablefilter does: last match wins.
func matchFilter(filter []string, table string) bool {
	db, tbl, _ := strings.Cut(table, ".")
	ok := false
	for _, p := range filter {
		body, excl := strings.CutPrefix(p, "!")
		pdb, ptbl, _ := strings.Cut(body, ".")
		mdb, _ := path.Match(pdb, db)
		mtbl, _ := path.Match(ptbl, tbl)
		if mdb && mtbl {
			ok = !excl
		}
	}
	return ok
}

// covered reports whether a table is in the set a group describes.
func covered(g tableGroup, table string) bool {
	for _, m := range g.Match {
		if !matchFilter([]string{m}, table) {
			return false
		}
	}
	for _, e := range g.Except {
		if matchFilter([]string{e}, table) {
			return false
		}
	}
	return true
}

// TestCompareFiltersExact checks, for random filters over a universe of
// table names, that the groups describe exactly the tables whose match
// changes: every such table is in some group, and every table a group
// describes does change.
func TestCompareFiltersExact(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var tables []string
	for _, db := range []string{"a", "b"} {
		for _, tbl := range words("xyz", 3) {
			if tbl != "" {
				tables = append(tables, db+"."+tbl)
			}
		}
	}
	randPattern := func() string {
		dbs := []string{"a", "b", "*"}
		p := dbs[r.IntN(len(dbs))] + "." + randomPart(r)
		if r.IntN(3) == 0 {
			p = "!" + p
		}
		return p
	}
	for range 2000 {
		old := make([]string, 1+r.IntN(4))
		for i := range old {
			old[i] = randPattern()
		}
		nw := make([]string, 1+r.IntN(4))
		for i := range nw {
			nw[i] = randPattern()
		}
		d := compareFilters(old, nw)
		for _, tbl := range tables {
			mo, mn := matchFilter(old, tbl), matchFilter(nw, tbl)
			inAdded, inGone := false, false
			for _, g := range d.Added {
				inAdded = inAdded || covered(g, tbl)
			}
			for _, g := range d.Dropped {
				inGone = inGone || covered(g, tbl)
			}
			if inAdded != (mn && !mo) || inGone != (mo && !mn) {
				t.Fatalf("old %q new %q table %s: newly=%v (described %v), dropped=%v (described %v)\nadded %+v\ndropped %+v",
					old, nw, tbl, mn && !mo, inAdded, mo && !mn, inGone, d.Added, d.Dropped)
			}
		}
	}
}

func randomPart(r *rand.Rand) string {
	const syms = "xyz*?"
	n := 1 + r.IntN(3)
	b := make([]byte, n)
	for i := range b {
		b[i] = syms[r.IntN(len(syms))]
	}
	return string(b)
}

// TestCompareFiltersExactQuoted is TestCompareFiltersExact with tablefilter's
// own matching and patterns that quote and escape names with dots and
// stars: the groups describe exactly the tables whose match changes.
func TestCompareFiltersExactQuoted(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	dbs := []string{"a", "a.b", "b", "a*"}
	tbls := []string{"x", "x.y", "y", "x*", "xy", "é"}
	dbParts := []string{"a", "`a.b`", "a\\.*", "*", "a*", "`a*`", "?"}
	tblParts := []string{"x", "`x.y`", "x*", "*", "`x*`", "x\\.?", "?", "é", "[xé]"}
	randPattern := func() string {
		p := dbParts[r.IntN(len(dbParts))] + "." + tblParts[r.IntN(len(tblParts))]
		if r.IntN(3) == 0 {
			p = "!" + p
		}
		return p
	}
	match := func(patterns []string, db, tbl string) bool {
		f, err := tablefilter.Parse(patterns)
		if err != nil {
			t.Fatal(err)
		}
		return f.Match(db, tbl)
	}
	for range 1500 {
		old := make([]string, 1+r.IntN(4))
		for i := range old {
			old[i] = randPattern()
		}
		nw := make([]string, 1+r.IntN(4))
		for i := range nw {
			nw[i] = randPattern()
		}
		d := compareFilters(old, nw)
		in := func(g tableGroup, db, tbl string) bool {
			for _, m := range g.Match {
				if !match([]string{m}, db, tbl) {
					return false
				}
			}
			for _, e := range g.Except {
				if match([]string{e}, db, tbl) {
					return false
				}
			}
			return true
		}
		for _, db := range dbs {
			for _, tbl := range tbls {
				mo, mn := match(old, db, tbl), match(nw, db, tbl)
				inAdded, inGone := false, false
				for _, g := range d.Added {
					inAdded = inAdded || in(g, db, tbl)
				}
				for _, g := range d.Dropped {
					inGone = inGone || in(g, db, tbl)
				}
				if inAdded != (mn && !mo) || inGone != (mo && !mn) {
					t.Fatalf("old %q new %q table %q.%q: newly=%v (described %v), dropped=%v (described %v)\nadded %+v\ndropped %+v",
						old, nw, db, tbl, mn && !mo, inAdded, mo && !mn, inGone, d.Added, d.Dropped)
				}
			}
		}
	}
}
