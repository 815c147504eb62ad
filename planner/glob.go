package planner

import "strings"

// Table patterns follow internal/tablefilter (TiDB's syntax): "db.table",
// where in each part '*' matches any run of characters and '?' exactly one,
// and a pattern never matches across the dot. The planner cannot list the
// source's tables (it does no SQL), so it reasons about the patterns
// themselves: which pattern's tables are contained in another's, and which
// two patterns can match a common table. (The planner stays pure and does
// not import tablefilter; spec has already validated every pattern.)
//
// Patterns with syntax this file does not model exactly (quoted names,
// escapes, [classes], non-ASCII characters) are treated conservatively:
// never "contained" in another pattern unless spelled the same, and always
// "may overlap", so descriptions stay true, if less sharp.

type glob struct {
	db, table string
	exact     bool // only '*', '?' and literals: reasoning is exact
}

func parseGlob(body string) glob {
	db, table, ok := strings.Cut(body, ".")
	if !ok {
		table = "*"
	}
	return glob{db: db, table: table, exact: isPlainGlob(body)}
}

// isPlainGlob reports whether a pattern uses only ASCII letters, digits,
// '$', '_', one '.', '*' and '?': the syntax partSubset and partOverlap
// decide exactly.
func isPlainGlob(body string) bool {
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '$', c == '_', c == '.', c == '*', c == '?':
		default:
			return false
		}
	}
	return strings.Count(body, ".") == 1
}

// globSubset reports whether every name matching p also matches q.
func globSubset(p, q glob) bool {
	if !p.exact || !q.exact {
		return p == q
	}
	return partSubset(p.db, q.db) && partSubset(p.table, q.table)
}

// globOverlap reports whether some name matches both p and q.
func globOverlap(p, q glob) bool {
	if !p.exact || !q.exact {
		return true
	}
	return partOverlap(p.db, q.db) && partOverlap(p.table, q.table)
}

// partSubset decides L(p) ⊆ L(q) for globs of '*', '?' and literals by
// matching q against p read as a pattern: a literal of p must meet the same
// literal, '?' or '*' in q; p's '?' must meet '?' or '*'; p's '*' only '*'.
// For this glob language the test is exact except for patterns where q has
// more than one '*' to align against a p with stars, where it may answer
// false for a true containment; callers treat false as "not known".
func partSubset(p, q string) bool {
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
		case q[j] == '*':
			// q's star absorbs nothing more, or absorbs p[i] (any symbol).
			ok = rec(i, j+1) || (i < n && rec(i+1, j))
		case i == n:
			ok = false
		case p[i] == '*':
			ok = false // only a star in q can cover a star in p
		case q[j] == '?':
			ok = rec(i+1, j+1)
		case p[i] == '?':
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

// partOverlap decides whether some string matches both globs, by searching
// the product of the two patterns' positions.
func partOverlap(p, q string) bool {
	n, m := len(p), len(q)
	seen := make([]bool, (n+1)*(m+1))
	stack := [][2]int{{0, 0}}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		i, j := s[0], s[1]
		k := i*(m+1) + j
		if seen[k] {
			continue
		}
		seen[k] = true
		if i == n && j == m {
			return true
		}
		if i < n && p[i] == '*' {
			stack = append(stack, [2]int{i + 1, j})
		}
		if j < m && q[j] == '*' {
			stack = append(stack, [2]int{i, j + 1})
		}
		if i == n || j == m {
			continue
		}
		// Both consume one common character.
		pi, qj := p[i], q[j]
		if pi == '*' && qj == '*' {
			continue // covered by skipping either star
		}
		if pi != '*' && pi != '?' && qj != '*' && qj != '?' && pi != qj {
			continue
		}
		ni, nj := i+1, j+1
		if pi == '*' {
			ni = i
		}
		if qj == '*' {
			nj = j
		}
		stack = append(stack, [2]int{ni, nj})
	}
	return false
}
