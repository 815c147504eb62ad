package planner

import "github.com/dmplan/dmplan/internal/tablefilter"

// Table patterns follow internal/tablefilter (TiDB's syntax): "db.table",
// where each part is a quoted name (`my.db`, matched literally) or a
// wildcard part in which '*' matches any run of characters, '?' exactly
// one, "[a-z]" one of a set, and '\' makes the next character literal; a
// pattern never matches across the dot between its parts. The planner
// cannot list the source's tables (it does no SQL), so it reasons about the
// patterns themselves: which pattern's tables are contained in another's,
// and which two patterns can match a common table.
//
// tablefilter parses each pattern and says where its database part ends
// (a dot inside a quoted name or escaped with '\' does not split it); the
// planner then reads each part as a string of symbols: literal characters
// (any Unicode code point), '?' and '*', on which containment
// is decided exactly (or soundly, see partSubset). Only parts with a
// [character class] are not modelled for containment: such a part is
// contained only in an identical part or in "*", so descriptions stay true,
// if less sharp. Overlap is tablefilter.Overlap's, which reads classes too.

// Symbols of a modelled part: a literal character is itself (a rune >= 0).
const (
	symStar rune = -1 // '*': any run of characters
	symAny  rune = -2 // '?': exactly one character
)

// globPart is the database or the table part of a pattern.
type globPart struct {
	text  string // canonical spelling
	syms  []rune // when exact
	exact bool   // false for parts with a [class], and for patterns that do not parse
}

type glob struct {
	text      string // canonical spelling of the pattern (as given when it does not parse)
	opaque    bool   // the pattern does not parse: nothing is known of it
	db, table globPart
	pattern   tablefilter.Pattern // as parsed, when not opaque
}

// parseGlob parses a pattern body (a pattern without its leading "!").
// A body that does not parse (spec validates every pattern, so only a
// corrupt state holds one) is opaque: contained only in an identical
// pattern, and assumed to overlap every pattern.
func parseGlob(body string) glob {
	p, err := tablefilter.ParsePattern(body)
	if err != nil || p.Exclude {
		return glob{text: body, opaque: true}
	}
	canon := p.String()
	db, table, ok := splitPattern(canon)
	if !ok {
		return glob{text: canon, opaque: true}
	}
	return glob{text: canon, db: parsePart(db, true), table: parsePart(table, false), pattern: p}
}

// splitPattern cuts a pattern in canonical spelling into its database and
// table parts. The cut is at the one dot where both sides parse as parts
// of a pattern: a dot inside a quoted name or escaped does not qualify.
func splitPattern(canon string) (db, table string, ok bool) {
	for i := 0; i < len(canon); i++ {
		if canon[i] != '.' {
			continue
		}
		db, table = canon[:i], canon[i+1:]
		pd, err := tablefilter.ParsePattern(db + ".x")
		if err != nil || pd.Exclude || pd.String() != db+".x" {
			continue
		}
		pt, err := tablefilter.ParsePattern("x." + table)
		if err != nil || pt.String() != "x."+table {
			continue
		}
		return db, table, true
	}
	return "", "", false
}

// parsePart reads the database (isDB) or table part of a pattern, in
// canonical spelling. tablefilter says whether it is a literal name, and
// which, from a pattern made of the part and the literal x.
func parsePart(text string, isDB bool) globPart {
	gp := globPart{text: text}
	pattern := "x." + text
	if isDB {
		pattern = text + ".x"
	}
	p, err := tablefilter.ParsePattern(pattern)
	if err != nil {
		return gp
	}
	if db, table, lit := p.Literal(); lit {
		name := table
		if isDB {
			name = db
		}
		gp.syms, gp.exact = []rune(name), true
		return gp
	}
	// A wildcard part in canonical spelling: identifier characters as they
	// are, any other literal character escaped with '\', '*', '?' and
	// [classes].
	rs := []rune(text)
	for i := 0; i < len(rs); i++ {
		switch rs[i] {
		case '\\':
			if i+1 == len(rs) {
				return gp
			}
			i++
			gp.syms = append(gp.syms, rs[i])
		case '*':
			gp.syms = append(gp.syms, symStar)
		case '?':
			gp.syms = append(gp.syms, symAny)
		case '[':
			gp.syms = nil
			return gp
		default:
			gp.syms = append(gp.syms, rs[i])
		}
	}
	gp.exact = true
	return gp
}

// matchesAll reports whether the part is "*".
func (p globPart) matchesAll() bool {
	return p.exact && len(p.syms) == 1 && p.syms[0] == symStar
}

// globSubset reports whether every table matching p also matches q.
func globSubset(p, q glob) bool {
	if p.text == q.text {
		return true
	}
	if p.opaque || q.opaque {
		return false
	}
	return globPartSubset(p.db, q.db) && globPartSubset(p.table, q.table)
}

func globPartSubset(p, q globPart) bool {
	if !p.exact || !q.exact {
		return p.text == q.text || q.matchesAll()
	}
	return partSubset(p.syms, q.syms)
}

// globOverlap reports whether some table matches both p and q. An opaque
// pattern is assumed to overlap every pattern; tablefilter decides the rest
// (exactly, except that two character classes are assumed to share a
// character).
func globOverlap(p, q glob) bool {
	if p.opaque || q.opaque {
		return true
	}
	return tablefilter.Overlap(p.pattern, q.pattern)
}

// partSubset decides L(p) ⊆ L(q) for parts of literals, '?' and '*' by
// matching q against p read as a pattern: a literal of p must meet the same
// literal, '?' or '*' in q; p's '?' must meet '?' or '*'; p's '*' only '*'.
// For this language the test is exact except for patterns where q has
// more than one '*' to align against a p with stars, where it may answer
// false for a true containment; callers treat false as "not known".
func partSubset(p, q []rune) bool {
	// memo[i][j]: p[i:] ⊆ q[j:]
	n, m := len(p), len(q)
	memo := make([]int8, (n+1)*(m+1)) // 0 unknown, 1 true, 2 false
	var rec func(i, j int) bool
	rec = func(i, j int) bool {
		k := i*(m+1) + j
		if memo[k] != 0 {
			return memo[k] == 1
		}
		var ok bool
		switch {
		case j == m:
			ok = i == n
		case q[j] == symStar:
			// q's star absorbs nothing more, or absorbs p[i] (any symbol).
			ok = rec(i, j+1) || (i < n && rec(i+1, j))
		case i == n:
			ok = false
		case p[i] == symStar:
			ok = false // only a star in q can cover a star in p
		case q[j] == symAny:
			ok = rec(i+1, j+1)
		case p[i] == symAny:
			ok = false
		default:
			ok = p[i] == q[j] && rec(i+1, j+1)
		}
		if ok {
			memo[k] = 1
		} else {
			memo[k] = 2
		}
		return ok
	}
	return rec(0, 0)
}
