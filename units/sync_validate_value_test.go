package units

import "testing"

// TestSameAsImage: the target's text against a binlog image's normalised
// value, per kind: equal values in different spellings match, any other
// difference does not.
func TestSameAsImage(t *testing.T) {
	col := func(k colKind, dataType string, unsigned bool) *syncCol {
		return &syncCol{name: "c", quoted: "`c`", kind: k, dataType: dataType, unsigned: unsigned}
	}
	cases := []struct {
		raw  []byte
		want any
		c    *syncCol
		same bool
	}{
		{[]byte("-5"), int64(-5), col(kindInt, "int", false), true},
		{[]byte("18446744073709551615"), uint64(1<<64 - 1), col(kindInt, "bigint", true), true},
		{[]byte("6"), int64(5), col(kindInt, "int", false), false},
		{[]byte("2"), int64(2), col(kindEnum, "enum", false), true},
		{[]byte("21"), uint64(21), col(kindBit, "bit", false), true},
		{[]byte("0.10000000149011612"), float32(0.1), col(kindFloat, "float", false), true},
		{[]byte("0.1"), float64(0.1), col(kindFloat, "double", false), true},
		{[]byte("0.2"), float64(0.1), col(kindFloat, "double", false), false},
		{[]byte("-0"), float64(0), col(kindFloat, "double", false), true},
		{[]byte("1.50"), "1.5", col(kindDecimal, "decimal", false), true},
		{[]byte("0.00"), "-0.00", col(kindDecimal, "decimal", false), true},
		{[]byte("1.51"), "1.5", col(kindDecimal, "decimal", false), false},
		{[]byte("2024-01-02 03:04:05.500"), "2024-01-02 03:04:05.5", col(kindTemporal, "datetime", false), true},
		{[]byte("2024-01-02 03:04:05.000"), "2024-01-02 03:04:05", col(kindTemporal, "datetime", false), true},
		{[]byte("2024-01-02 03:04:06"), "2024-01-02 03:04:05", col(kindTemporal, "datetime", false), false},
		{[]byte("-12:00:00.10"), "-12:00:00.1", col(kindTemporal, "time", false), true},
		{[]byte("ab"), "ab  ", col(kindText, "char", false), true},
		{[]byte("ab"), "ab  ", col(kindText, "varchar", false), false},
		{[]byte("Ab"), "ab", col(kindText, "varchar", false), false},
		{[]byte{0, 1}, []byte{0, 1}, col(kindBytes, "varbinary", false), true},
		{[]byte(`{"b":2,"a":1}`), `{"a": 1, "b": 2}`, col(kindJSON, "json", false), true},
		{nil, nil, col(kindInt, "int", false), true},
		{nil, int64(0), col(kindInt, "int", false), false},
		{[]byte("0"), nil, col(kindInt, "int", false), false},
	}
	for _, c := range cases {
		if got := sameAsImage(c.raw, c.want, c.c); got != c.same {
			t.Errorf("sameAsImage(%q, %#v, %s) = %v, want %v", c.raw, c.want, c.c.dataType, got, c.same)
		}
	}
}

func TestCanonicalDecimal(t *testing.T) {
	for in, want := range map[string]string{"1.50": "1.5", "-0.00": "0", "007": "7", "-.5": "-0.5", "10": "10", "0": "0", "100.000": "100"} {
		if got := canonicalDecimal(in); got != want {
			t.Errorf("canonicalDecimal(%q) = %q, want %q", in, got, want)
		}
	}
}
