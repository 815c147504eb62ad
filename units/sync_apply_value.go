package units

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
)

// go-mysql decodes row images without the table's column definitions
// (TABLE_MAP carries no signedness with binlog_row_metadata=NO_LOG), so
// its values are normalised against the target's definition, once, by
// normalizeValue, before they are hashed or rendered:
//
//	integers      int64, or uint64 for UNSIGNED columns (go-mysql sign-extends)
//	YEAR          int64
//	FLOAT/DOUBLE  float32/float64
//	DECIMAL       string (the exact decimal text)
//	temporal      string ("2024-01-02 03:04:05.123456"; TIMESTAMP in UTC)
//	text, JSON    string or []byte, the column's character set
//	binary        string or []byte
//	ENUM, SET     int64 (index, bitmask)
//	BIT           uint64
//	NULL          nil

// normalizeValue converts v as decoded by go-mysql for column c.
func normalizeValue(v any, c *syncCol) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch c.kind {
	case kindInt:
		switch x := v.(type) {
		case int8:
			if c.unsigned {
				return uint64(uint8(x)), nil
			}
			return int64(x), nil
		case int16:
			if c.unsigned {
				return uint64(uint16(x)), nil
			}
			return int64(x), nil
		case int32:
			if c.unsigned {
				if c.dataType == "mediumint" {
					return uint64(uint32(x) & 0xFFFFFF), nil
				}
				return uint64(uint32(x)), nil
			}
			return int64(x), nil
		case int64:
			if c.unsigned {
				return uint64(x), nil
			}
			return x, nil
		case uint8:
			return uint64(x), nil
		case uint16:
			return uint64(x), nil
		case uint32:
			return uint64(x), nil
		case uint64:
			return x, nil
		}
	case kindYear, kindEnum, kindSet:
		switch x := v.(type) {
		case int:
			return int64(x), nil
		case int64:
			return x, nil
		}
	case kindBit:
		switch x := v.(type) {
		case int64:
			return uint64(x), nil
		case uint64:
			return x, nil
		}
	case kindFloat:
		switch x := v.(type) {
		case float32, float64:
			return x, nil
		}
	case kindBytes:
		switch x := v.(type) {
		case string:
			return padBinary([]byte(x), c.padTo), nil
		case []byte:
			return padBinary(x, c.padTo), nil
		}
	case kindDecimal, kindTemporal, kindText, kindJSON:
		switch x := v.(type) {
		case string, []byte:
			return x, nil
		}
	}
	return nil, fmt.Errorf("column %s (%s): unexpected binlog value of type %T: the target's column type differs from the source's",
		c.quoted, c.dataType, v)
}

// padBinary restores the trailing zero bytes of a BINARY(n) value.
func padBinary(b []byte, n int) []byte {
	if len(b) >= n {
		return b
	}
	out := make([]byte, n)
	copy(out, b)
	return out
}

// appendLiteral appends v, normalised for c, as an SQL literal. Strings are
// escaped for a session with NO_BACKSLASH_ESCAPES off and a utf8mb4
// connection; text in other character sets is sent as hex with an
// introducer, so no byte is ever reinterpreted.
func appendLiteral(dst []byte, v any, c *syncCol) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "NULL"...), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case uint64:
		return strconv.AppendUint(dst, x, 10), nil
	case float32:
		// The exact value of the float, as a DOUBLE literal: it rounds back
		// to the same FLOAT on insert and compares equal in a WHERE clause.
		return appendFloat(dst, float64(x))
	case float64:
		return appendFloat(dst, x)
	case string:
		return appendStringLiteral(dst, x, c)
	case []byte:
		return appendStringLiteral(dst, x, c)
	}
	return dst, fmt.Errorf("column %s: cannot render a value of type %T", c.quoted, v)
}

func appendFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, fmt.Errorf("float value %v has no SQL literal", f)
	}
	return strconv.AppendFloat(dst, f, 'e', -1, 64), nil
}

func appendStringLiteral[S string | []byte](dst []byte, s S, c *syncCol) ([]byte, error) {
	switch c.kind {
	case kindDecimal:
		if !isDecimalText(s) {
			return dst, fmt.Errorf("column %s: %q is not a decimal", c.quoted, string(s))
		}
		return append(dst, s...), nil
	case kindBytes:
		dst = append(dst, "_binary'"...)
		return append(appendEscaped(dst, s), '\''), nil
	case kindText:
		if c.charset != "" {
			dst = append(dst, '_')
			dst = append(dst, c.charset...)
			dst = append(dst, " X'"...)
			dst = hex.AppendEncode(dst, []byte(s))
			return append(dst, '\''), nil
		}
	}
	dst = append(dst, '\'')
	return append(appendEscaped(dst, s), '\''), nil
}

// appendEscaped escapes s for a single-quoted literal (as
// mysql_real_escape_string does for utf8mb4 and binary strings).
func appendEscaped[S string | []byte](dst []byte, s S) []byte {
	for i := 0; i < len(s); i++ {
		switch b := s[i]; b {
		case 0:
			dst = append(dst, '\\', '0')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\'':
			dst = append(dst, '\\', '\'')
		case '"':
			dst = append(dst, '\\', '"')
		case '\032':
			dst = append(dst, '\\', 'Z')
		default:
			dst = append(dst, b)
		}
	}
	return dst
}

func isDecimalText[S string | []byte](s S) bool {
	if len(s) == 0 {
		return false
	}
	digits := 0
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b >= '0' && b <= '9':
			digits++
		case b == '-' && i == 0, b == '.':
		default:
			return false
		}
	}
	return digits > 0
}

// valuesEqual reports whether two normalised values are the same.
func valuesEqual(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		switch y := b.(type) {
		case string:
			return x == y
		case []byte:
			return x == string(y)
		}
		return false
	case []byte:
		switch y := b.(type) {
		case string:
			return string(x) == y
		case []byte:
			return string(x) == string(y)
		}
		return false
	case float32:
		y, ok := b.(float32)
		return ok && math.Float32bits(x) == math.Float32bits(y)
	case float64:
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	}
	return a == b
}
