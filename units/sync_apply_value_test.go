package units

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/dmplan/dmplan/internal/golden"
)

func TestNormalizeAndRender(t *testing.T) {
	col := func(kind colKind, dataType string, unsigned bool) *syncCol {
		return &syncCol{quoted: "`c`", kind: kind, dataType: dataType, unsigned: unsigned}
	}
	latin1 := col(kindText, "varchar", false)
	latin1.charset = "latin1"
	bin4 := col(kindBytes, "binary", false)
	bin4.padTo = 4
	for _, tc := range []struct {
		in   any
		c    *syncCol
		want string
	}{
		{nil, col(kindInt, "int", false), "NULL"},
		{int8(-1), col(kindInt, "tinyint", true), "255"},
		{int8(-128), col(kindInt, "tinyint", false), "-128"},
		{int16(-1), col(kindInt, "smallint", true), "65535"},
		{int32(-1), col(kindInt, "mediumint", true), "16777215"},
		{int32(-8388608), col(kindInt, "mediumint", false), "-8388608"},
		{int32(-1), col(kindInt, "int", true), "4294967295"},
		{int64(-1), col(kindInt, "bigint", true), "18446744073709551615"},
		{int64(math.MinInt64), col(kindInt, "bigint", false), "-9223372036854775808"},
		{uint32(7), col(kindInt, "int", true), "7"},
		{2024, col(kindYear, "year", false), "2024"},
		{"-12345.678900", col(kindDecimal, "decimal", false), "-12345.678900"},
		{float32(1.1), col(kindFloat, "float", false), "1.100000023841858e+00"},
		{float64(-1.7976931348623157e308), col(kindFloat, "double", false), "-1.7976931348623157e+308"},
		{float64(5e-324), col(kindFloat, "double", false), "5e-324"},
		{"2024-01-02 03:04:05.123456", col(kindTemporal, "datetime", false), "'2024-01-02 03:04:05.123456'"},
		{"0000-00-00", col(kindTemporal, "date", false), "'0000-00-00'"},
		{"it's \"q\" \\ \x00\n\r\x1a", col(kindText, "varchar", false), `'it\'s \"q\" \\ \0\n\r\Z'`},
		{[]byte("héllo 😀"), col(kindText, "text", false), "'héllo 😀'"},
		{"caf\xe9", latin1, "_latin1 X'636166e9'"},
		{"a", bin4, `_binary'a\0\0\0'`},
		{[]byte{0xff, 0, '\''}, col(kindBytes, "blob", false), `_binary'` + "\xff" + `\0\''`},
		{int64(3), col(kindEnum, "enum", false), "3"},
		{int64(5), col(kindSet, "set", false), "5"},
		{int64(-1), col(kindBit, "bit", false), "18446744073709551615"},
		{`{"a": 1}`, col(kindJSON, "json", false), `'{\"a\": 1}'`},
	} {
		v, err := normalizeValue(tc.in, tc.c)
		if err != nil {
			t.Errorf("normalize %#v as %s: %v", tc.in, tc.c.dataType, err)
			continue
		}
		got, err := appendLiteral(nil, v, tc.c)
		if err != nil || string(got) != tc.want {
			t.Errorf("%#v as %s: got %s (%v), want %s", tc.in, tc.c.dataType, got, err, tc.want)
		}
	}
	// Values of the wrong type say which column differs.
	if _, err := normalizeValue("x", col(kindInt, "int", false)); err == nil || !strings.Contains(err.Error(), "`c`") {
		t.Errorf("a string for an INT column: %v", err)
	}
	if _, err := appendLiteral(nil, "1; DROP TABLE x", col(kindDecimal, "decimal", false)); err == nil {
		t.Error("a decimal that is not a number was rendered")
	}
	if _, err := appendLiteral(nil, math.NaN(), col(kindFloat, "double", false)); err == nil {
		t.Error("NaN was rendered")
	}
}

// syTestTable builds a syncTable without a server.
func syTestTable(name string, cols []syncCol, key []int, uniques ...[]int) *syncTable {
	t := &syncTable{dst: tableRef{"d", name}, quoted: quoteTable("d", name), cols: cols, key: key, keyIdx: -1}
	if key != nil {
		t.uniques = append(t.uniques, key)
		t.keyIdx = 0
	}
	t.uniques = append(t.uniques, uniques...)
	var head strings.Builder
	head.WriteString(t.quoted + " (")
	n := 0
	for i, c := range cols {
		t.cols[i].quoted = QuoteIdent(c.name)
		if !c.generated {
			if n > 0 {
				head.WriteByte(',')
			}
			head.WriteString(t.cols[i].quoted)
			t.writable = append(t.writable, i)
			n++
		}
	}
	head.WriteString(") VALUES ")
	t.insertHead, t.replaceHead = "INSERT INTO "+head.String(), "REPLACE INTO "+head.String()
	return t
}

// TestStmtBuilder: the statements a batch of changes becomes (golden).
func TestStmtBuilder(t *testing.T) {
	pk := syTestTable("pk", []syncCol{{name: "id", kind: kindInt}, {name: "v", kind: kindText}, {name: "g", kind: kindInt, generated: true}}, []int{0})
	nokey := syTestTable("no key", []syncCol{{name: "a", kind: kindInt}, {name: "f", kind: kindFloat}, {name: "j", kind: kindJSON}}, nil)
	nuk := syTestTable("nuk", []syncCol{{name: "a", kind: kindInt}, {name: "b", kind: kindInt}}, nil, []int{0})
	ch := func(kind changeKind, tbl *syncTable, idem bool, before, after []any) *syncChange {
		return &syncChange{kind: kind, tbl: tbl, idem: idem, before: before, after: after}
	}
	changes := []*syncChange{
		ch(changeInsert, pk, false, nil, []any{int64(1), "a", int64(2)}),
		ch(changeInsert, pk, false, nil, []any{int64(2), "b", int64(3)}),
		ch(changeUpdate, pk, false, []any{int64(1), "a", int64(2)}, []any{int64(1), "a'", int64(2)}),
		ch(changeUpdate, pk, false, []any{int64(2), "b", int64(3)}, []any{int64(2), "b", int64(9)}), // only a generated column
		ch(changeUpdate, pk, false, []any{int64(2), "b", int64(3)}, []any{int64(20), "b", int64(21)}),
		ch(changeDelete, pk, false, []any{int64(1), "a'", int64(2)}, nil),
		ch(changeInsert, pk, true, nil, []any{int64(5), "e", int64(6)}),
		ch(changeInsert, pk, true, nil, []any{int64(6), "f", int64(7)}),
		ch(changeUpdate, pk, true, []any{int64(5), "e", int64(6)}, []any{int64(5), "E", int64(6)}),
		ch(changeDelete, pk, true, []any{int64(6), "f", int64(7)}, nil),
		ch(changeInsert, nokey, false, nil, []any{int64(1), float32(1.5), nil}),
		ch(changeUpdate, nokey, false, []any{int64(1), float32(1.5), `{"a":1}`}, []any{int64(1), float32(2.5), `{"a":1}`}),
		ch(changeDelete, nokey, false, []any{nil, nil, nil}, nil),
		ch(changeUpdate, nuk, false, []any{int64(1), int64(1)}, []any{int64(1), int64(2)}),
		ch(changeDelete, nuk, false, []any{nil, int64(2)}, nil),
	}
	b := stmtBuilder{maxStmt: 1 << 20}
	for _, c := range changes {
		if err := b.add(c); err != nil {
			t.Fatal(err)
		}
	}
	var out strings.Builder
	for i := range b.ends {
		fmt.Fprintf(&out, "%s\n  expect %d rows\n", b.buf[b.stmtStart(i):b.ends[i]], b.expect[i])
	}
	golden.Check(t, "units/sync/statements.txt", []byte(out.String()))
}

// TestStmtBuilderBatch: a batch of a table whose only unique index is its
// key is grouped into rounds (golden).
func TestStmtBuilderBatch(t *testing.T) {
	sb := syTestTable("sbtest", []syncCol{{name: "id", kind: kindInt}, {name: "k", kind: kindInt}, {name: "c", kind: kindText}}, []int{0})
	uk := syTestTable("uk", []syncCol{{name: "id", kind: kindInt}, {name: "u", kind: kindInt}}, []int{0}, []int{1})
	row := func(id, k int64, c string) []any { return []any{id, k, c} }
	ch := func(kind changeKind, tbl *syncTable, before, after []any) *syncChange {
		return &syncChange{kind: kind, tbl: tbl, before: before, after: after}
	}
	changes := []*syncChange{
		ch(changeUpdate, sb, row(1, 10, "a"), row(1, 11, "a")),
		ch(changeUpdate, sb, row(2, 20, "b"), row(2, 20, "B")),
		ch(changeDelete, sb, row(3, 30, "c"), nil),
		ch(changeInsert, sb, nil, row(3, 31, "c'")),
		ch(changeUpdate, uk, []any{int64(1), int64(1)}, []any{int64(1), int64(2)}),
		ch(changeUpdate, sb, row(4, 40, "d"), row(4, 41, "d")),
		ch(changeUpdate, sb, row(5, 50, "e"), row(5, 50, "E")),
		ch(changeDelete, sb, row(6, 60, "f"), nil),
		ch(changeUpdate, uk, []any{int64(2), int64(2)}, []any{int64(2), int64(1)}),
		ch(changeUpdate, sb, row(1, 11, "a"), row(1, 12, "a")), // second change of key 1: next round
		ch(changeUpdate, sb, row(7, 70, "g"), row(8, 70, "g")), // key changes: alone
		ch(changeInsert, sb, nil, row(9, 90, "i")),
	}
	b := stmtBuilder{maxStmt: 1 << 20}
	// The builder is reused batch after batch: render twice, keep the second.
	if err := b.addBatch(changes); err != nil {
		t.Fatal(err)
	}
	b.reset()
	if err := b.addBatch(changes); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for i := range b.ends {
		fmt.Fprintf(&out, "%s\n  expect %d rows\n", b.buf[b.stmtStart(i):b.ends[i]], b.expect[i])
	}
	golden.Check(t, "units/sync/statements_batch.txt", []byte(out.String()))
}
