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
	case "float", "bit":
		out.Expr = units.CompareExpr(c.Column, flavor) // FLOAT's DOUBLE text round-trips; BIT as a number
	case "double", "real":
		if !same {
			out.Expr = units.SelectExpr(units.Column{Name: name, DataType: "float"}, flavor)
		}
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

// Hash names how a row's hash is computed from its text (rowText).
type Hash string

const (
	// HashCRC32C is CRC32C(s), 32 bits per row (CRC32(s) where the server
	// has no CRC32C: MySQL, MariaDB before 10.8), folded with BIT_XOR (see
	// aggregate). The cheapest: about 1.6x the server CPU of CHECKSUM
	// TABLE per row. A differing chunk goes unnoticed when the folds
	// collide: about 1 in 4 billion.
	HashCRC32C Hash = "crc32c"
	// HashCRC64 is CRC32(s) << 32 | CRC32C(s), 64 bits per row (MD5's first
	// 64 bits where the server has no CRC32C), folded with an exact SUM:
	// about 1.7x the CPU of crc32c.
	HashCRC64 Hash = "crc64"
	// HashMD5 is the first 64 bits of MD5(s), folded like crc32c: every
	// server has it; about 2.5x the CPU of crc32c.
	HashMD5 Hash = "md5"
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

// rowHash is a row's hash as a BIGINT UNSIGNED expression. crc32c says
// whether every server has CRC32C.
func rowHash(cols []col, h Hash, crc32c bool) string {
	s := rowText(cols)
	md5 := "CAST(CONV(LEFT(MD5(" + s + "), 16), 16, 10) AS UNSIGNED)"
	switch {
	case h == HashMD5, h == HashCRC64 && !crc32c:
		return md5
	case h == HashCRC64:
		return "(CRC32(" + s + ") << 32 | CRC32C(" + s + "))"
	case crc32c:
		return "CRC32C(" + s + ")"
	}
	return "CRC32(" + s + ")"
}

// aggregate folds the row hashes of a chunk into one order-free value.
// With xor, BIT_XOR of the hash times an odd 32-bit constant: integer work
// only (SUM of BIGINTs is DECIMAL arithmetic per row, about a third of the
// server CPU of a checksum), and the multiplication breaks CRC's XOR
// linearity, under which two rows that swapped a value (same lengths)
// would cancel out. BIT_XOR cancels equal rows, which a table with a key
// cannot hold; a keyless table gets the exact SUM (a DECIMAL).
// MD5 is not linear: its 64 bits are folded as they are (a 64-bit value
// times the constant would overflow).
func aggregate(rowHash string, xor, linear bool) string {
	switch {
	case xor && linear:
		return "BIT_XOR(" + rowHash + " * 2654435761)"
	case xor:
		return "BIT_XOR(" + rowHash + ")"
	}
	return "SUM(" + rowHash + ")"
}

// checksumSQL counts the rows of table matching where and folds their
// hashes with agg (aggregate).
func checksumSQL(table, agg, where string) string {
	q := "SELECT COUNT(*), COALESCE(" + agg + ", 0) FROM " + table
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
