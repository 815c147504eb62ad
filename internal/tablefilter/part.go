package tablefilter

import (
	"strings"
	"unicode/utf8"
)

// part is the database or the table half of a pattern: a literal name, or
// a list of wildcard tokens.
type part struct {
	wild bool
	lit  string  // the name, when !wild
	toks []token // when wild
}

type tokenKind uint8

const (
	tokRune  tokenKind = iota // one literal character
	tokAny                    // ?
	tokStar                   // *
	tokClass                  // [...] or [!...]
)

type token struct {
	kind  tokenKind
	r     rune
	class *class
}

type class struct {
	negate bool
	ranges []runeRange
}

type runeRange struct{ lo, hi rune }

func (c *class) has(r rune) bool {
	for _, rg := range c.ranges {
		if rg.lo <= r && r <= rg.hi {
			return !c.negate
		}
	}
	return c.negate
}

// newPart turns tokens into a part; tokens that are all literal characters
// make a literal part, so that shop\.x and `shop.x` are the same part.
func newPart(toks []token) part {
	var b strings.Builder
	for _, t := range toks {
		if t.kind != tokRune {
			return part{wild: true, toks: toks}
		}
		b.WriteRune(t.r)
	}
	return part{lit: b.String()}
}

// matchAll reports whether the part matches every name: it is just "*".
func (p part) matchAll() bool {
	return p.wild && len(p.toks) == 1 && p.toks[0].kind == tokStar
}

func (t token) matches(r rune) bool {
	switch t.kind {
	case tokRune:
		return t.r == r
	case tokAny:
		return true
	case tokClass:
		return t.class.has(r)
	}
	return false
}

// match reports whether name matches the part. Every token but '*' consumes
// exactly one character, so remembering the last '*' is enough to backtrack:
// the match takes O(len(name) * len(tokens)) at worst, without allocating.
func (p part) match(name string) bool {
	if !p.wild {
		return name == p.lit
	}
	toks := p.toks
	ti, si := 0, 0
	starT, starS := -1, 0
	for {
		if ti < len(toks) {
			t := toks[ti]
			if t.kind == tokStar {
				starT, starS = ti, si
				ti++
				continue
			}
			if si < len(name) {
				r, size := utf8.DecodeRuneInString(name[si:])
				if t.matches(r) {
					ti++
					si += size
					continue
				}
			}
		} else if si == len(name) {
			return true
		}
		// Mismatch: let the last '*' swallow one more character.
		if starT < 0 || starS >= len(name) {
			return false
		}
		_, size := utf8.DecodeRuneInString(name[starS:])
		starS += size
		ti, si = starT+1, starS
	}
}

// write appends the canonical spelling of the part.
func (p part) write(b *strings.Builder) {
	if !p.wild {
		writeLiteral(b, p.lit)
		return
	}
	for _, t := range p.toks {
		switch t.kind {
		case tokRune:
			writeRune(b, t.r)
		case tokAny:
			b.WriteByte('?')
		case tokStar:
			b.WriteByte('*')
		case tokClass:
			b.WriteByte('[')
			if t.class.negate {
				b.WriteByte('!')
			}
			for _, rg := range t.class.ranges {
				writeRune(b, rg.lo)
				if rg.hi != rg.lo {
					b.WriteByte('-')
					writeRune(b, rg.hi)
				}
			}
			b.WriteByte(']')
		}
	}
}

// writeLiteral writes a name as is when it needs no quoting, and in
// backquotes otherwise.
func writeLiteral(b *strings.Builder, name string) {
	plain := name != ""
	for _, r := range name {
		if !isIdent(r) {
			plain = false
			break
		}
	}
	if plain {
		b.WriteString(name)
		return
	}
	b.WriteByte('`')
	b.WriteString(strings.ReplaceAll(name, "`", "``"))
	b.WriteByte('`')
}

// writeRune writes one literal character of a wildcard part, escaping
// everything that is not an identifier character.
func writeRune(b *strings.Builder, r rune) {
	if !isIdent(r) {
		b.WriteByte('\\')
	}
	b.WriteRune(r)
}
