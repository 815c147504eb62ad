package units

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// How the validator compares a target row with a binlog row image. The
// target is read with CompareExpr, the expression `dmplan verify` reads
// every side with too (FLOAT as DOUBLE text, BIT as a number), and a few
// more for what a binlog image holds (normalizeValue): ENUM and SET as
// their index and bitmask, text as its stored bytes. The text the target
// returns is then compared with the image's normalised value:
//
//	integers, YEAR, ENUM, SET, BIT   as numbers
//	FLOAT, DOUBLE                    as the float the column holds (FLOAT
//	                                 rounded to 32 bits), bit for bit
//	DECIMAL                          as numbers: "1.50" = "1.5", "-0" = "0"
//	temporal                         as text, trailing zeros of a fraction
//	                                 ignored ("…05.500" = "…05.5")
//	CHAR                             bytes, trailing spaces ignored (the
//	                                 server strips them on read)
//	other text, binary               bytes, exactly (case and trailing
//	                                 spaces count, unlike the collation)
//	MySQL JSON                       as JSON values (key order ignored)

// CompareExpr is the expression a column is read with to compare it
// exactly on any server: FLOAT as its DOUBLE form (its text keeps only 6
// digits), BIT as an unsigned number, anything else as it is. It is the
// one rule of `dmplan verify` and of sync's validator.
func CompareExpr(c Column, flavor string) string {
	switch c.DataType {
	case "float":
		return selectExpr(c, flavor)
	case "bit":
		return "(" + QuoteIdent(c.Name) + " + 0)"
	}
	return QuoteIdent(c.Name)
}

// validateExpr is the expression the validator reads target column c with.
func validateExpr(c *syncCol, flavor string) string {
	switch c.kind {
	case kindEnum, kindSet:
		return "(" + c.quoted + " + 0)"
	case kindText:
		return "CAST(" + c.quoted + " AS BINARY)"
	}
	return CompareExpr(Column{Name: c.name, DataType: c.dataType}, flavor)
}

// parseTargetValue turns what the target returned for validateExpr into
// the normalised form of a binlog value (normalizeValue), for key lookups.
// ok is false when the text does not parse as the column's kind.
func parseTargetValue(raw []byte, c *syncCol) (v any, ok bool) {
	if raw == nil {
		return nil, true
	}
	s := string(raw)
	switch c.kind {
	case kindInt, kindYear, kindEnum, kindSet, kindBit:
		if c.unsigned || c.kind == kindBit {
			u, err := strconv.ParseUint(s, 10, 64)
			return u, err == nil
		}
		i, err := strconv.ParseInt(s, 10, 64)
		return i, err == nil
	case kindFloat:
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil
	case kindBytes, kindText:
		return bytes.Clone(raw), true
	}
	return s, true
}

// sameAsImage reports whether the target's text raw (validateExpr) holds
// the binlog image's value want (normalised for c).
func sameAsImage(raw []byte, want any, c *syncCol) bool {
	if raw == nil || want == nil {
		return raw == nil && want == nil
	}
	switch c.kind {
	case kindInt, kindYear, kindEnum, kindSet, kindBit:
		switch w := want.(type) {
		case int64:
			i, err := strconv.ParseInt(string(raw), 10, 64)
			return err == nil && i == w
		case uint64:
			u, err := strconv.ParseUint(string(raw), 10, 64)
			return err == nil && u == w
		}
		return false
	case kindFloat:
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			return false
		}
		switch w := want.(type) {
		case float32:
			return math.Float32bits(float32(f)) == math.Float32bits(w) || f == 0 && w == 0
		case float64:
			return math.Float64bits(f) == math.Float64bits(w) || f == 0 && w == 0
		}
		return false
	case kindDecimal:
		return canonicalDecimal(string(raw)) == canonicalDecimal(textOf(want))
	case kindTemporal:
		return trimFraction(string(raw)) == trimFraction(textOf(want))
	case kindText:
		w := textOf(want)
		if c.dataType == "char" {
			return strings.TrimRight(string(raw), " ") == strings.TrimRight(w, " ")
		}
		return string(raw) == w
	case kindJSON:
		return sameJSON(raw, []byte(textOf(want)))
	}
	return string(raw) == textOf(want)
}

func textOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return ""
}

// canonicalDecimal drops a sign of zero, leading zeros and trailing zeros
// of the fraction: equal numbers give equal text.
func canonicalDecimal(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimLeft(strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+"), "0")
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	if s == "" || s[0] == '.' {
		s = "0" + s
	}
	if neg && s != "0" {
		s = "-" + s
	}
	return s
}

// trimFraction drops trailing zeros of a temporal value's fraction.
func trimFraction(s string) string {
	if i := strings.LastIndexByte(s, '.'); i >= 0 && !strings.ContainsAny(s[i:], " -:") {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	return s
}

func sameJSON(a, b []byte) bool {
	var x, y any
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	if da.Decode(&x) != nil || db.Decode(&y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

// displayKey renders a row's key for people: "id=5", "a=1,b=x"; text that
// is not printable and bytes as 0x hex.
func displayKey(t *syncTable, row []any) string {
	var b strings.Builder
	for i, k := range t.key {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(t.cols[k].name)
		b.WriteByte('=')
		b.WriteString(displayValue(row[k]))
	}
	return b.String()
}

func displayValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return displayText([]byte(x))
	case []byte:
		return displayText(x)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	}
	return "?"
}

func displayText(b []byte) string {
	for _, r := range string(b) {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return "0x" + hex.EncodeToString(b)
		}
	}
	return string(b)
}
