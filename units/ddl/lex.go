package ddl

import (
	"errors"
	"strings"
)

// A small SQL lexer for the statements of the binlog: enough to find the
// table names of DDL (with their byte ranges, so they can be replaced by
// their routed names) while skipping string literals, quoted names and
// comments. It does not validate SQL; the target does.

type tokKind uint8

const (
	tokWord   tokKind = iota // a bare word: keyword, name or number
	tokIdent                 // a quoted name: `x` (or "x" under ANSI_QUOTES)
	tokString                // a string literal
	tokPunct                 // any other single byte
)

type sqlTok struct {
	kind       tokKind
	text       string // words as written; names unquoted; strings raw
	start, end int    // byte range in the statement
}

// upper is the word in upper case ("" for other tokens).
func (t sqlTok) upper() string {
	if t.kind != tokWord {
		return ""
	}
	return strings.ToUpper(t.text)
}

var errUnterminated = errors.New("unterminated quote or comment")

// lex splits s into tokens. Executable comments (/*!50100 ... */ and
// MariaDB's /*M!100100 ... */) are read as code.
func lex(s string, ansiQuotes, noBackslashEscapes bool) ([]sqlTok, error) {
	var toks []sqlTok
	inExec := 0
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '#' || strings.HasPrefix(s[i:], "--") && (i+2 == len(s) || s[i+2] <= ' '):
			end := strings.IndexByte(s[i:], '\n')
			if end < 0 {
				i = len(s)
			} else {
				i += end + 1
			}
		case strings.HasPrefix(s[i:], "/*!") || strings.HasPrefix(s[i:], "/*M!"):
			i += strings.IndexByte(s[i:], '!') + 1
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
			inExec++
		case strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return nil, errUnterminated
			}
			i += end + 4
		case inExec > 0 && strings.HasPrefix(s[i:], "*/"):
			inExec--
			i += 2
		case c == '`' || c == '"' && ansiQuotes:
			name, end, ok := readQuoted(s, i, c, false)
			if !ok {
				return nil, errUnterminated
			}
			toks = append(toks, sqlTok{kind: tokIdent, text: name, start: i, end: end})
			i = end
		case c == '\'' || c == '"':
			_, end, ok := readQuoted(s, i, c, !noBackslashEscapes)
			if !ok {
				return nil, errUnterminated
			}
			toks = append(toks, sqlTok{kind: tokString, text: s[i:end], start: i, end: end})
			i = end
		case isWordByte(c):
			start := i
			for i < len(s) && isWordByte(s[i]) {
				i++
			}
			toks = append(toks, sqlTok{kind: tokWord, text: s[start:i], start: start, end: i})
		default:
			toks = append(toks, sqlTok{kind: tokPunct, text: s[i : i+1], start: i, end: i + 1})
			i++
		}
	}
	return toks, nil
}

func isWordByte(b byte) bool {
	return b == '_' || b == '$' || b >= 0x80 || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
}

// readQuoted reads a quoted token starting at s[i] == q; a doubled quote
// stands for itself, and with backslash a backslash escapes any byte.
func readQuoted(s string, i int, q byte, backslash bool) (string, int, bool) {
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		switch {
		case backslash && s[j] == '\\' && j+1 < len(s):
			b.WriteByte(s[j+1])
			j++
		case s[j] != q:
			b.WriteByte(s[j])
		case j+1 < len(s) && s[j+1] == q:
			b.WriteByte(q)
			j++
		default:
			return b.String(), j + 1, true
		}
	}
	return "", 0, false
}

// tokStream walks tokens.
type tokStream struct {
	toks []sqlTok
	i    int
}

func (t *tokStream) peek() sqlTok {
	if t.i < len(t.toks) {
		return t.toks[t.i]
	}
	return sqlTok{kind: tokPunct, start: -1}
}

func (t *tokStream) next() sqlTok {
	tok := t.peek()
	if t.i < len(t.toks) {
		t.i++
	}
	return tok
}

// word consumes the next token when it is the word w.
func (t *tokStream) word(w string) bool {
	if t.peek().upper() == w {
		t.i++
		return true
	}
	return false
}

// words consumes the words ws when they all come next, in order.
func (t *tokStream) words(ws ...string) bool {
	save := t.i
	for _, w := range ws {
		if !t.word(w) {
			t.i = save
			return false
		}
	}
	return true
}

func (t *tokStream) punct(p string) bool {
	if tok := t.peek(); tok.kind == tokPunct && tok.text == p {
		t.i++
		return true
	}
	return false
}

// nameRef is a [db.]table name of a statement and where it is.
type nameRef struct {
	db, table  string
	start, end int
}

// name reads [db.]name; ok=false when no name comes next.
func (t *tokStream) name() (nameRef, bool) {
	first := t.peek()
	if first.kind != tokWord && first.kind != tokIdent {
		return nameRef{}, false
	}
	t.i++
	n := nameRef{table: first.text, start: first.start, end: first.end}
	if t.punct(".") {
		second := t.peek()
		if second.kind != tokWord && second.kind != tokIdent {
			return nameRef{}, false
		}
		t.i++
		n.db, n.table, n.end = first.text, second.text, second.end
	}
	return n, true
}
