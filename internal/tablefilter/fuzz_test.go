package tablefilter

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// oracle is the part as a regular expression, to check the matcher.
func (p part) oracle() *regexp.Regexp {
	if !p.wild {
		return regexp.MustCompile(`(?s)^` + regexp.QuoteMeta(p.lit) + `$`)
	}
	var b strings.Builder
	b.WriteString(`(?s)^`)
	for _, t := range p.toks {
		switch t.kind {
		case tokRune:
			b.WriteString(regexp.QuoteMeta(string(t.r)))
		case tokAny:
			b.WriteString(".")
		case tokStar:
			b.WriteString(".*")
		case tokClass:
			b.WriteString("[")
			if t.class.negate {
				b.WriteString("^")
			}
			for _, rg := range t.class.ranges {
				b.WriteString(regexp.QuoteMeta(string(rg.lo)) + "-" + regexp.QuoteMeta(string(rg.hi)))
			}
			b.WriteString("]")
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// FuzzParse checks that parsing never panics and that every pattern that
// parses has a canonical spelling that parses back to itself and matches
// the same names.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"shop.*", "!shop.tmp_*", "`my.db`.`t*`", `"a""b".c`, `my\.db.t?`,
		"db[0-9].t[!a-c]", "a.b.c", "`", "[", `\`, "*.*\n!mysql.*", "日本.表*",
	} {
		f.Add(s, "shop", "tmp_1")
	}
	f.Fuzz(func(t *testing.T, patterns, db, table string) {
		list := strings.Split(patterns, "\n")
		flt, err := Parse(list)
		if err == nil {
			flt.Match(db, table)
			flt.MatchSchema(db)
		}
		for _, s := range list {
			p, err := ParsePattern(s)
			if err != nil {
				continue
			}
			c := p.String()
			q, err := ParsePattern(c)
			if err != nil {
				t.Fatalf("canonical %q of %q does not parse: %v", c, s, err)
			}
			if q.String() != c {
				t.Fatalf("canonical %q of %q reads back as %q", c, s, q.String())
			}
			if p.Match(db, table) != q.Match(db, table) {
				t.Fatalf("%q and its canonical %q disagree on %q.%q", s, c, db, table)
			}
			if want := p.db.oracle().MatchString(db) && p.table.oracle().MatchString(table); p.Match(db, table) != want && utf8.ValidString(db+table) {
				t.Fatalf("%q.Match(%q, %q) = %v, regexp says %v", s, db, table, !want, want)
			}
			ParseRoute(Route{From: s, To: s})
		}
	})
}
