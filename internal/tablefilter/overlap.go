package tablefilter

// AllTables reports whether the pattern's table part is "*": it matches
// every table of the databases it matches (and so the databases' own
// statements, in the binlog event filter).
func (p Pattern) AllTables() bool { return p.table.matchAll() }

// Overlap reports whether some table could match both p and q (whether
// they exclude is ignored). It is exact for parts of literals, '?' and
// '*'; two character classes are assumed to share a character, so the
// answer errs towards true.
func Overlap(p, q Pattern) bool {
	return partsOverlap(p.db.tokens(), q.db.tokens()) && partsOverlap(p.table.tokens(), q.table.tokens())
}

// tokens returns the part as tokens (a literal part as its characters).
func (p part) tokens() []token {
	if p.wild {
		return p.toks
	}
	out := make([]token, 0, len(p.lit))
	for _, r := range p.lit {
		out = append(out, token{kind: tokRune, r: r})
	}
	return out
}

// partsOverlap searches the product of the two token lists' positions for
// a name both match.
func partsOverlap(a, b []token) bool {
	n, m := len(a), len(b)
	seen := make([]bool, (n+1)*(m+1))
	stack := [][2]int{{0, 0}}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		i, j := s[0], s[1]
		if seen[i*(m+1)+j] {
			continue
		}
		seen[i*(m+1)+j] = true
		if i == n && j == m {
			return true
		}
		starA := i < n && a[i].kind == tokStar
		starB := j < m && b[j].kind == tokStar
		if starA {
			stack = append(stack, [2]int{i + 1, j}) // the star matches nothing more
		}
		if starB {
			stack = append(stack, [2]int{i, j + 1})
		}
		if i == n || j == m {
			continue
		}
		// Both consume one common character; a star stays where it is.
		if tokensShare(a[i], b[j]) {
			ni, nj := i+1, j+1
			if starA {
				ni = i
			}
			if starB {
				nj = j
			}
			if ni != i || nj != j {
				stack = append(stack, [2]int{ni, nj})
			}
		}
	}
	return false
}

// tokensShare reports whether some character matches both tokens.
func tokensShare(x, y token) bool {
	switch {
	case x.kind == tokStar || x.kind == tokAny || y.kind == tokStar || y.kind == tokAny:
		return true
	case x.kind == tokRune && y.kind == tokRune:
		return x.r == y.r
	case x.kind == tokRune:
		return y.matches(x.r)
	case y.kind == tokRune:
		return x.matches(y.r)
	}
	return true // two classes
}

// LiteralDB returns the database name of a pattern whose database part
// has no wildcard.
func (p Pattern) LiteralDB() (string, bool) {
	if p.db.wild {
		return "", false
	}
	return p.db.lit, true
}
