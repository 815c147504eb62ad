package verify

import (
	"strings"

	"github.com/dmplan/dmplan/units"
)

// col is one compared column: its name and the expression that reads it
// as exact text, the same on every side.
type col struct {
	Name     string
	Expr     string // e.g. `c`, CAST(`f` AS DOUBLE), CONVERT(`t` USING utf8mb4)
	Nullable bool   // on some side
	Binary   bool   // bytes without a character set (hashed with its length)
	Numeric  bool   // read as a number (written unquoted in fix SQL)
}

// sideCol is a column as one server defines it.
type sideCol struct {
	units.Column
	Charset   string // "" for non-text columns
	Collation string
}

// colExpr is the expression every side reads c with. defs are c's
// definitions on every side (target first); when they differ, values are
// normalised to a form both definitions print the same way.
func colExpr(name string, defs []sideCol, flavor string) col {
	c := defs[0]
	out := col{Name: name, Expr: units.QuoteIdent(name), Binary: units.IsBinaryType(c.Column)}
	same, sameCharset := true, true
	for _, d := range defs {
		out.Nullable = out.Nullable || d.Nullable
		if d.ColumnType != c.ColumnType {
			same = false
		}
		if d.Charset != c.Charset {
			sameCharset = false
		}
	}
	q := out.Expr
	switch c.DataType {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year", "float", "double", "real", "decimal", "numeric", "bit":
		out.Numeric = true
	}
	switch c.DataType {
	case "float":
		out.Expr = units.SelectExpr(c.Column, flavor) // DOUBLE text round-trips
	case "double", "real":
		if !same {
			out.Expr = units.SelectExpr(units.Column{Name: name, DataType: "float"}, flavor)
		}
	case "bit":
		out.Expr = "(" + q + " + 0)"
	case "decimal", "numeric":
		if !same {
			out.Expr = "CAST(" + q + " AS DECIMAL(65,30))"
		}
	case "datetime", "timestamp":
		if !same {
			out.Expr = "CAST(" + q + " AS DATETIME(6))"
		}
	case "time":
		if !same {
			out.Expr = "CAST(" + q + " AS TIME(6))"
		}
	default:
		if c.Charset != "" && !sameCharset {
			out.Expr = "CONVERT(" + q + " USING utf8mb4)"
		}
	}
	return out
}

// hashFunc says how a row's 64-bit hash is computed from its text.
type hashFunc int

const (
	hashCRC hashFunc = iota // CRC32(s) << 32 | CRC32C(s): MariaDB 10.8+
	hashMD5                 // the first 64 bits of MD5(s): everywhere, about twice the CPU
)

// rowText is the expression joining a row's columns: the values separated
// by a zero byte, binary values followed by their length (they may hold
// zero bytes), and one flag per nullable column (CONCAT_WS skips NULLs).
func rowText(cols []col) string {
	var b strings.Builder
	b.WriteString("CONCAT_WS(0x00")
	var flags []string
	for _, c := range cols {
		b.WriteString(", ")
		b.WriteString(c.Expr)
		if c.Binary {
			b.WriteString(", LENGTH(" + units.QuoteIdent(c.Name) + ")")
		}
		if c.Nullable {
			flags = append(flags, "ISNULL("+units.QuoteIdent(c.Name)+")")
		}
	}
	if len(flags) > 0 {
		b.WriteString(", CONCAT(" + strings.Join(flags, ", ") + ")")
	}
	b.WriteString(")")
	return b.String()
}

// rowHash is a row's 64-bit hash as a BIGINT UNSIGNED expression.
func rowHash(cols []col, h hashFunc) string {
	s := rowText(cols)
	if h == hashMD5 {
		return "CAST(CONV(LEFT(MD5(" + s + "), 16), 16, 10) AS UNSIGNED)"
	}
	return "(CRC32(" + s + ") << 32 | CRC32C(" + s + "))"
}

// checksumSQL counts the rows of table matching where and sums their
// hashes exactly (a DECIMAL sum: order-free, and equal rows do not cancel
// out as they would with BIT_XOR).
func checksumSQL(table string, cols []col, h hashFunc, where string) string {
	q := "SELECT COUNT(*), COALESCE(SUM(" + rowHash(cols, h) + "), 0) FROM " + table
	if where != "" {
		q += " WHERE " + where
	}
	return q
}

// keyAfter is the predicate "key > bound" for a composite key, expanded as
// (a > ?) OR (a = ? AND b > ?) ... so that the range optimizer uses the
// index; args are the bound's values in that order.
func keyAfter(key []string, bound []any) (string, []any) {
	return keyCompare(key, bound, ">", false)
}

// keyUpTo is "key <= bound".
func keyUpTo(key []string, bound []any) (string, []any) {
	return keyCompare(key, bound, "<", true)
}

func keyCompare(key []string, bound []any, op string, orEqual bool) (string, []any) {
	var ors []string
	var args []any
	for i := range key {
		var ands []string
		for j := 0; j < i; j++ {
			ands = append(ands, units.QuoteIdent(key[j])+" = ?")
			args = append(args, bound[j])
		}
		ands = append(ands, units.QuoteIdent(key[i])+" "+op+" ?")
		args = append(args, bound[i])
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	if orEqual {
		var ands []string
		for j := range key {
			ands = append(ands, units.QuoteIdent(key[j])+" = ?")
			args = append(args, bound[j])
		}
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return "(" + strings.Join(ors, " OR ") + ")", args
}

// keyIn is "key IN (k1, k2, ...)" for n keys (row constructors for a
// composite key); args follow in the same order.
func keyIn(key []string, keys [][]any) (string, []any) {
	var b strings.Builder
	var args []any
	if len(key) == 1 {
		b.WriteString(units.QuoteIdent(key[0]) + " IN (")
	} else {
		q := make([]string, len(key))
		for i, k := range key {
			q[i] = units.QuoteIdent(k)
		}
		b.WriteString("(" + strings.Join(q, ", ") + ") IN (")
	}
	ph := "?"
	if len(key) > 1 {
		ph = "(" + strings.Repeat("?, ", len(key)-1) + "?)"
	}
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(ph)
		args = append(args, k...)
	}
	b.WriteString(")")
	return b.String(), args
}
