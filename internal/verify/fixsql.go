package verify

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"

	"github.com/dmplan/dmplan/units"
)

// fixWriter writes the statements that would make the target equal to
// the sources. Values are the sources' as read (FLOAT as its exact DOUBLE,
// BIT as a number, text as utf8mb4), so they insert back exactly.
type fixWriter struct {
	mu  sync.Mutex
	w   *bufio.Writer
	err error
	n   int
}

func newFixWriter(w io.Writer, task string) *fixWriter {
	f := &fixWriter{w: bufio.NewWriter(w)}
	f.printf("-- dmplan verify %s: statements that would make the target equal to the sources.\n", task)
	f.printf("-- Review before running; dmplan never runs them. Rows written since the comparison may make them stale.\n")
	f.printf("SET NAMES utf8mb4;\nSET time_zone = '+00:00';\n")
	return f
}

func (f *fixWriter) printf(format string, args ...any) {
	if f.err == nil {
		_, f.err = fmt.Fprintf(f.w, format, args...)
	}
}

func (f *fixWriter) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.printf("-- %d statements\n", f.n)
	if f.err == nil {
		f.err = f.w.Flush()
	}
	return f.err
}

// replace writes REPLACE INTO target (cols) VALUES (vals).
func (f *fixWriter) replace(j *job, vals [][]byte) { f.write(j, "REPLACE", vals) }

// insert writes INSERT INTO target (cols) VALUES (vals).
func (f *fixWriter) insert(j *job, vals [][]byte) { f.write(j, "INSERT", vals) }

func (f *fixWriter) write(j *job, verb string, vals [][]byte) {
	names := make([]string, len(j.cols))
	lits := make([]string, len(j.cols))
	for i, c := range j.cols {
		names[i] = units.QuoteIdent(c.Name)
		lits[i] = literal(vals[i], c)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	f.printf("%s INTO %s (%s) VALUES (%s);\n", verb, j.target, strings.Join(names, ", "), strings.Join(lits, ", "))
}

// delete writes DELETE FROM target WHERE key = ....
func (f *fixWriter) delete(j *job, key []any) {
	conds := make([]string, len(key))
	for i, v := range key {
		var lit string
		switch x := v.(type) {
		case []byte:
			lit = literal(x, col{Binary: true})
		case string:
			lit = literal([]byte(x), col{})
		}
		conds[i] = units.QuoteIdent(j.key[i]) + " = " + lit
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	f.printf("DELETE FROM %s WHERE %s;\n", j.target, strings.Join(conds, " AND "))
}

// deleteRow writes DELETE ... LIMIT 1 of one row of a keyless table,
// found by every column (<=> matches NULLs).
func (f *fixWriter) deleteRow(j *job, vals [][]byte) {
	conds := make([]string, len(j.cols))
	for i, c := range j.cols {
		conds[i] = c.Expr + " <=> " + literal(vals[i], c)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	f.printf("DELETE FROM %s WHERE %s LIMIT 1;\n", j.target, strings.Join(conds, " AND "))
}

var numberRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?$`)

// literal renders a value of c, read as text (or bytes), as an SQL literal.
func literal(v []byte, c col) string {
	switch {
	case v == nil:
		return "NULL"
	case c.Binary:
		if len(v) == 0 {
			return "''"
		}
		return "X'" + hex.EncodeToString(v) + "'"
	case c.Numeric && numberRE.Match(v):
		return string(v)
	}
	var b strings.Builder
	b.WriteByte('\'')
	for _, c := range v {
		switch c {
		case 0:
			b.WriteString(`\0`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\\':
			b.WriteString(`\\`)
		case '\'':
			b.WriteString(`\'`)
		case 0x1a:
			b.WriteString(`\Z`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}
