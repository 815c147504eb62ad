package units

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
)

// Values travel as the server's own text (the text protocol's raw bytes),
// never through Go types: integers of any width and sign, DECIMAL, dates,
// times and strings stay exact. Three kinds need care:
//   - binary strings (BINARY, VARBINARY, BLOB, spatial) travel hex-encoded;
//   - BIT values arrive as big-endian bytes and travel as unsigned decimals;
//   - FLOAT is read as CAST(col AS DOUBLE) (MySQL: col + 0e0): its text
//     form keeps only 6 significant digits, its DOUBLE form round-trips.

// valueKind is how one column's value is encoded.
type valueKind uint8

const (
	vkText   valueKind = iota // the server's text, escaped
	vkBinary                  // bytes, hex-encoded
	vkBit                     // big-endian bytes, as an unsigned decimal
)

func kindOf(c Column) valueKind {
	switch {
	case c.DataType == "bit":
		return vkBit
	case isBinaryType(c):
		return vkBinary
	}
	return vkText
}

// selectExpr is the expression dump reads column c with.
func selectExpr(c Column, flavor string) string {
	if c.DataType == "float" {
		if flavor == "mysql" { // 5.7 has no CAST AS DOUBLE; -0 reads as 0 (untested here)
			return "(" + QuoteIdent(c.Name) + " + 0e0)"
		}
		return "CAST(" + QuoteIdent(c.Name) + " AS DOUBLE)"
	}
	return QuoteIdent(c.Name)
}

// bitDecimal turns BIT bytes (big-endian) into an unsigned decimal.
func bitDecimal(dst, b []byte) []byte {
	if len(b) <= 8 {
		var v uint64
		for _, x := range b {
			v = v<<8 | uint64(x)
		}
		return strconv.AppendUint(dst, v, 10)
	}
	return new(big.Int).SetBytes(b).Append(dst, 10)
}

// appendTSV appends v in LOAD DATA's default text format (fields
// terminated by tab, lines by newline, escaped by backslash). nil is NULL.
func appendTSV(dst, v []byte, k valueKind) []byte {
	if v == nil {
		return append(dst, '\\', 'N')
	}
	switch k {
	case vkBinary:
		return hex.AppendEncode(dst, v)
	case vkBit:
		return bitDecimal(dst, v)
	}
	return appendEscapes(dst, v, &tsvEscapes)
}

// escapes says which bytes a format escapes: letter maps a byte to the
// letter that follows the backslash, or 0 when the byte stands for itself.
// Every escaped byte is below 0x20, the backslash or one of quotes (SWAR
// words, each byte the quote; 0 for none): appendEscapes skips 8 bytes at
// a time while none of those is among them.
type escapes struct {
	letter [256]byte
	quotes [2]uint64
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// tsvEscapes are LOAD DATA's (ESCAPED BY '\\'): the terminators, the
// escape itself, CR and NUL.
var tsvEscapes = escapes{letter: [256]byte{'\\': '\\', '\t': 't', '\n': 'n', '\r': 'r', 0: '0'}}

// sqlEscapes are those of a quoted SQL string (NO_BACKSLASH_ESCAPES off).
var sqlEscapes = escapes{
	letter: [256]byte{'\\': '\\', '\'': '\'', '"': '"', '\n': 'n', '\r': 'r', 0: '0', '\032': 'Z'},
	quotes: [2]uint64{'\'' * ones, '"' * ones},
}

// plain reports whether none of the 8 bytes of w may need escaping: no
// byte below 0x20, no backslash, none of the quotes. (x-ones)&^x&highs is
// non-zero exactly when a byte of x is 0, (w-0x20*ones)&^w&highs when a
// byte of w is below 0x20.
func (e *escapes) plain(w uint64) bool {
	m := (w - 0x20*ones) &^ w
	x := w ^ '\\'*ones
	m |= (x - ones) &^ x
	for _, q := range e.quotes {
		if q != 0 {
			x = w ^ q
			m |= (x - ones) &^ x
		}
	}
	return m&highs == 0
}

// appendEscapes copies v, escaping the bytes esc names. Runs of ordinary
// bytes are copied at once, and found 8 bytes at a time: most values have
// nothing to escape (a byte-by-byte scan was a tenth of the agent's CPU in
// a copy).
func appendEscapes(dst, v []byte, esc *escapes) []byte {
	start, i := 0, 0
	for {
		for i+8 <= len(v) && esc.plain(binary.LittleEndian.Uint64(v[i:])) {
			i += 8
		}
		if i >= len(v) {
			break
		}
		for end := min(i+8, len(v)); i < end; i++ {
			if e := esc.letter[v[i]]; e != 0 {
				dst = append(dst, v[start:i]...)
				dst = append(dst, '\\', e)
				start = i + 1
			}
		}
	}
	return append(dst, v[start:]...)
}

// appendSQL appends v as an SQL literal: NULL, X'hex', an unsigned decimal
// for BIT, or a quoted string with backslash escapes (the loader's session
// has NO_BACKSLASH_ESCAPES off). The server converts a quoted string to
// the column's type exactly, so numbers and dates are quoted too.
func appendSQL(dst, v []byte, k valueKind) []byte {
	if v == nil {
		return append(dst, "NULL"...)
	}
	switch k {
	case vkBinary:
		dst = append(dst, "X'"...)
		dst = hex.AppendEncode(dst, v)
		return append(dst, '\'')
	case vkBit:
		return bitDecimal(dst, v)
	}
	dst = append(dst, '\'')
	dst = appendEscapes(dst, v, &sqlEscapes)
	return append(dst, '\'')
}

// A chunk boundary is the key of a row: one value per key column. It is
// stored in dmplan_meta as a JSON array of strings (binary columns
// hex-encoded) and sent back to the source as query parameters.

// encodeKey renders a key as JSON.
func encodeKey(vals [][]byte, binary []bool) string {
	s := make([]string, len(vals))
	for i, v := range vals {
		if binary[i] {
			s[i] = hex.EncodeToString(v)
		} else {
			s[i] = string(v)
		}
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// decodeKey turns a stored key into query parameters: string for text
// columns, []byte for binary ones.
func decodeKey(s string, binary []bool) ([]any, error) {
	var vals []string
	if err := json.Unmarshal([]byte(s), &vals); err != nil {
		return nil, fmt.Errorf("decode chunk key %q: %w", s, err)
	}
	if len(vals) != len(binary) {
		return nil, fmt.Errorf("decode chunk key %q: %d values for a %d-column key", s, len(vals), len(binary))
	}
	out := make([]any, len(vals))
	for i, v := range vals {
		if !binary[i] {
			out[i] = v
			continue
		}
		b, err := hex.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("decode chunk key %q: %w", s, err)
		}
		out[i] = b
	}
	return out, nil
}
