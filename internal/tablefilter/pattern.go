package tablefilter

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Pattern is one parsed "db.table" pattern, possibly excluding ("!db.table").
// Make one with ParsePattern; the zero Pattern is not a valid pattern.
type Pattern struct {
	Exclude bool
	db      part
	table   part
}

// PatternError says why a pattern does not parse.
type PatternError struct {
	Pattern string // the pattern as given
	Reason  string
}

func (e *PatternError) Error() string { return fmt.Sprintf("%q: %s", e.Pattern, e.Reason) }

// ParsePattern parses one pattern such as "shop.*", "!shop.tmp_*" or
// "`my.db`.orders".
func ParsePattern(s string) (Pattern, error) {
	fail := func(format string, args ...any) (Pattern, error) {
		return Pattern{}, &PatternError{Pattern: s, Reason: fmt.Sprintf(format, args...)}
	}
	if !utf8.ValidString(s) {
		return fail("pattern is not valid UTF-8")
	}
	var p Pattern
	rest := s
	if strings.HasPrefix(rest, "!") {
		p.Exclude = true
		rest = rest[1:]
	}
	if rest == "" {
		return fail("empty pattern; want db.table")
	}
	db, rest, err := parsePart(rest)
	if err != nil {
		return fail("database %s", err)
	}
	if rest == "" {
		return fail(`missing "." and table pattern after the database; want db.table (use db.* for every table)`)
	}
	if rest[0] != '.' {
		return fail("unexpected %q after the database pattern", rest[:1])
	}
	table, rest, err := parsePart(rest[1:])
	if err != nil {
		return fail("table %s", err)
	}
	if rest != "" {
		return fail("unexpected %q after the table pattern; escape a literal dot as \\. or quote the name", rest[:1])
	}
	p.db, p.table = db, table
	return p, nil
}

// String is the canonical spelling of the pattern: it parses back to an
// equal pattern, and equal patterns have the same spelling.
func (p Pattern) String() string {
	var b strings.Builder
	if p.Exclude {
		b.WriteByte('!')
	}
	p.db.write(&b)
	b.WriteByte('.')
	p.table.write(&b)
	return b.String()
}

// folded is the pattern in lower case (its canonical spelling lower-cased
// parses back: escapes and quotes are not letters).
func (p Pattern) folded() Pattern {
	q, err := ParsePattern(strings.ToLower(p.String()))
	if err != nil {
		return p // cannot happen: lower-casing keeps a canonical spelling valid
	}
	return q
}

// Match reports whether the table db.table matches the pattern, ignoring
// whether the pattern excludes.
func (p Pattern) Match(db, table string) bool { return p.db.match(db) && p.table.match(table) }

// MatchSchema reports whether the pattern's database part matches db.
func (p Pattern) MatchSchema(db string) bool { return p.db.match(db) }

// Literal returns the database and table names of a pattern without
// wildcards; ok is false when either part has a wildcard.
func (p Pattern) Literal() (db, table string, ok bool) {
	if p.db.wild || p.table.wild {
		return "", "", false
	}
	return p.db.lit, p.table.lit, true
}

// starOnly is the tokens of the part "*".
var starOnly = []token{{kind: tokStar}}

// parsePart reads one part up to an unescaped '.' or the end and returns
// the rest, starting at that '.'. Errors read after "database " or "table ".
func parsePart(s string) (part, string, error) {
	if s == "" || s[0] == '.' {
		return part{}, s, fmt.Errorf("pattern is empty")
	}
	switch s[0] {
	case '`', '"':
		return parseQuoted(s)
	case '/':
		return part{}, s, fmt.Errorf("pattern is a /regexp/, which is not supported; use * and ? wildcards")
	case '@':
		return part{}, s, fmt.Errorf("pattern imports a file (@), which is not supported")
	}
	// Most parts are plain ASCII names: no tokens to build.
	lit := 0
	for lit < len(s) && s[lit] != '.' && s[lit] < utf8.RuneSelf && isIdent(rune(s[lit])) {
		lit++
	}
	if lit == len(s) || s[lit] == '.' {
		return part{lit: s[:lit]}, s[lit:], nil
	}
	if lit == 0 && s[0] == '*' && (len(s) == 1 || s[1] == '.') {
		return part{wild: true, toks: starOnly}, s[1:], nil // parts are never changed: shared
	}
	// At most one token per byte up to the first '.': sized once rather
	// than grown (a plan loads 200,000 patterns).
	end := strings.IndexByte(s, '.')
	if end < 0 {
		end = len(s)
	}
	toks := make([]token, 0, end)
	i := 0
	for i < len(s) && s[i] != '.' {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 == len(s) {
				return part{}, s, fmt.Errorf(`pattern ends with "\"`)
			}
			r, size := utf8.DecodeRuneInString(s[i+1:])
			if isAlnum(r) {
				return part{}, s, fmt.Errorf(`pattern escapes %q (\%c), which is reserved; only punctuation can be escaped`, r, r)
			}
			toks = append(toks, token{kind: tokRune, r: r})
			i += 1 + size
		case c == '*':
			if len(toks) == 0 || toks[len(toks)-1].kind != tokStar {
				toks = append(toks, token{kind: tokStar})
			}
			i++
		case c == '?':
			toks = append(toks, token{kind: tokAny})
			i++
		case c == '[':
			cl, n, err := parseClass(s[i:])
			if err != nil {
				return part{}, s, err
			}
			toks = append(toks, token{kind: tokClass, class: cl})
			i += n
		case c == '`' || c == '"':
			return part{}, s, fmt.Errorf("pattern is partly quoted; quote the whole name or escape the %q with \\", c)
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if !isIdent(r) {
				return part{}, s, fmt.Errorf("pattern has %q, which must be escaped with \\ or quoted", r)
			}
			toks = append(toks, token{kind: tokRune, r: r})
			i += size
		}
	}
	return newPart(toks), s[i:], nil
}

// parseQuoted reads a `quoted` or "quoted" name; a doubled quote inside
// stands for one quote character.
func parseQuoted(s string) (part, string, error) {
	q := s[0]
	var b strings.Builder
	i := 1
	for {
		j := strings.IndexByte(s[i:], q)
		if j < 0 {
			return part{}, s, fmt.Errorf("pattern has an unterminated %c quote", q)
		}
		b.WriteString(s[i : i+j])
		i += j + 1
		if i < len(s) && s[i] == q {
			b.WriteByte(q)
			i++
			continue
		}
		break
	}
	if b.Len() == 0 {
		return part{}, s, fmt.Errorf("pattern is an empty quoted name")
	}
	if i < len(s) && s[i] != '.' {
		return part{}, s, fmt.Errorf("pattern is partly quoted; quote the whole name")
	}
	return part{lit: b.String()}, s[i:], nil
}

// parseClass reads "[...]" or "[!...]" at the start of s and returns the
// class and the number of bytes read.
func parseClass(s string) (*class, int, error) {
	cl := &class{}
	i := 1
	if i < len(s) && s[i] == '!' {
		cl.negate = true
		i++
	}
	readRune := func() (rune, error) {
		if i >= len(s) {
			return 0, fmt.Errorf("pattern has an unterminated [ character class")
		}
		if s[i] == '\\' {
			if i+1 == len(s) {
				return 0, fmt.Errorf(`pattern ends with "\"`)
			}
			r, size := utf8.DecodeRuneInString(s[i+1:])
			if isAlnum(r) {
				return 0, fmt.Errorf(`pattern escapes %q (\%c), which is reserved; only punctuation can be escaped`, r, r)
			}
			i += 1 + size
			return r, nil
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		return r, nil
	}
	for {
		if i >= len(s) {
			return nil, 0, fmt.Errorf("pattern has an unterminated [ character class")
		}
		if s[i] == ']' {
			if len(cl.ranges) == 0 {
				return nil, 0, fmt.Errorf("pattern has an empty [] character class")
			}
			return cl, i + 1, nil
		}
		lo, err := readRune()
		if err != nil {
			return nil, 0, err
		}
		hi := lo
		if i+1 < len(s) && s[i] == '-' && s[i+1] != ']' {
			i++
			if hi, err = readRune(); err != nil {
				return nil, 0, err
			}
			if hi < lo {
				return nil, 0, fmt.Errorf("pattern has the reversed range %c-%c in a character class", lo, hi)
			}
		}
		cl.ranges = append(cl.ranges, runeRange{lo, hi})
	}
}

// isIdent reports whether r may appear unescaped in a pattern: the
// characters of MySQL's unquoted identifiers.
func isIdent(r rune) bool { return isAlnum(r) || r == '$' || r == '_' || r >= utf8.RuneSelf }

func isAlnum(r rune) bool {
	return '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
}
