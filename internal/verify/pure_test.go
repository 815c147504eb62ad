package verify

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/dmplan/dmplan/internal/golden"
	"github.com/dmplan/dmplan/units"
)

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Check(t, "verify/"+name, got)
}

func sc(name, dataType, columnType, charset string, nullable bool) sideCol {
	return sideCol{Column: units.Column{Name: name, DataType: dataType, ColumnType: columnType, Nullable: nullable}, Charset: charset}
}

func TestColumnExpressions(t *testing.T) {
	for _, tc := range []struct {
		defs []sideCol
		want col
	}{
		{[]sideCol{sc("i", "int", "int(11)", "", false), sc("i", "int", "int(11)", "", false)},
			col{Name: "i", Expr: "`i`", Numeric: true}},
		{[]sideCol{sc("f", "float", "float", "", true), sc("f", "float", "float", "", false)},
			col{Name: "f", Expr: "CAST(`f` AS DOUBLE)", Nullable: true, Numeric: true}},
		{[]sideCol{sc("d", "decimal", "decimal(12,2)", "", false), sc("d", "decimal", "decimal(12,2)", "", false)},
			col{Name: "d", Expr: "`d`", Numeric: true}},
		{[]sideCol{sc("d", "decimal", "decimal(14,4)", "", false), sc("d", "decimal", "decimal(12,2)", "", false)},
			col{Name: "d", Expr: "CAST(`d` AS DECIMAL(65,30))", Numeric: true}},
		{[]sideCol{sc("t", "datetime", "datetime(6)", "", false), sc("t", "datetime", "datetime(3)", "", false)},
			col{Name: "t", Expr: "CAST(`t` AS DATETIME(6))"}},
		{[]sideCol{sc("s", "varchar", "varchar(20)", "utf8mb4", false), sc("s", "varchar", "varchar(20)", "latin1", false)},
			col{Name: "s", Expr: "CONVERT(`s` USING utf8mb4)"}},
		{[]sideCol{sc("s", "varchar", "varchar(20)", "utf8mb4", false), sc("s", "varchar", "varchar(20)", "utf8mb4", false)},
			col{Name: "s", Expr: "`s`"}},
		{[]sideCol{sc("b", "varbinary", "varbinary(8)", "", false)},
			col{Name: "b", Expr: "`b`", Binary: true}},
		{[]sideCol{sc("bt", "bit", "bit(3)", "", false)},
			col{Name: "bt", Expr: "(`bt` + 0)", Numeric: true}},
	} {
		if got := colExpr(tc.defs[0].Name, tc.defs, "mariadb"); got != tc.want {
			t.Errorf("%+v: got %+v, want %+v", tc.defs, got, tc.want)
		}
	}
}

func TestRowHashAndKeyPredicates(t *testing.T) {
	cols := []col{{Name: "id", Expr: "`id`"}, {Name: "b", Expr: "`b`", Binary: true, Nullable: true}, {Name: "n", Expr: "`n`", Nullable: true}}
	if got, want := rowText(cols), "CONCAT_WS(0x00, `id`, `b`, LENGTH(`b`), `n`, CONCAT(ISNULL(`b`), ISNULL(`n`)))"; got != want {
		t.Errorf("rowText = %s\nwant     %s", got, want)
	}
	s := rowText(cols)
	for _, tc := range []struct {
		h      Hash
		crc32c bool
		want   string
	}{
		{HashCRC32C, true, "CRC32C(" + s + ")"},
		{HashCRC32C, false, "CRC32(" + s + ")"},
		{HashCRC64, true, "(CRC32(" + s + ") << 32 | CRC32C(" + s + "))"},
		{HashCRC64, false, "CAST(CONV(LEFT(MD5(" + s + "), 16), 16, 10) AS UNSIGNED)"},
		{HashMD5, true, "CAST(CONV(LEFT(MD5(" + s + "), 16), 16, 10) AS UNSIGNED)"},
	} {
		if got := rowHash(cols, tc.h, tc.crc32c); got != tc.want {
			t.Errorf("rowHash(%s, %v) = %s", tc.h, tc.crc32c, got)
		}
	}
	if got := aggregate("h", true, true); got != "BIT_XOR(h * 2654435761)" {
		t.Errorf("aggregate xor linear = %s", got)
	}
	if got := aggregate("h", true, false); got != "BIT_XOR(h)" {
		t.Errorf("aggregate xor = %s", got)
	}
	if got := aggregate("h", false, true); got != "SUM(h)" {
		t.Errorf("aggregate sum = %s", got)
	}
	w, args := keyAfter([]string{"a", "b"}, []any{"x", "1"})
	if w != "((`a` > ?) OR (`a` = ? AND `b` > ?))" || !reflect.DeepEqual(args, []any{"x", "x", "1"}) {
		t.Errorf("keyAfter = %s %v", w, args)
	}
	w, args = keyUpTo([]string{"a", "b"}, []any{"x", "1"})
	if w != "((`a` < ?) OR (`a` = ? AND `b` < ?) OR (`a` = ? AND `b` = ?))" || len(args) != 5 {
		t.Errorf("keyUpTo = %s %v", w, args)
	}
	w, args = keyIn([]string{"a", "b"}, [][]any{{"x", "1"}, {"y", "2"}})
	if w != "(`a`, `b`) IN ((?, ?), (?, ?))" || len(args) != 4 {
		t.Errorf("keyIn = %s %v", w, args)
	}
	if w, _ = keyIn([]string{"id"}, [][]any{{"1"}, {"2"}}); w != "`id` IN (?, ?)" {
		t.Errorf("keyIn one column = %s", w)
	}
}

func TestLiterals(t *testing.T) {
	for _, tc := range []struct {
		v    []byte
		c    col
		want string
	}{
		{nil, col{}, "NULL"},
		{[]byte("00123"), col{}, "'00123'"}, // text that looks like a number stays text
		{[]byte("-1.5e+10"), col{Numeric: true}, "-1.5e+10"},
		{[]byte("it's\n\\"), col{}, `'it\'s\n\\'`},
		{[]byte{0, 0xff}, col{Binary: true}, "X'00ff'"},
		{[]byte{}, col{Binary: true}, "''"},
		{[]byte("1; DROP TABLE x"), col{Numeric: true}, "'1; DROP TABLE x'"},
	} {
		if got := literal(tc.v, tc.c); got != tc.want {
			t.Errorf("literal(%q, %+v) = %s, want %s", tc.v, tc.c, got, tc.want)
		}
	}
}

func TestChunkSplit(t *testing.T) {
	j := &job{key: []string{"id"}, intKey: true}
	c := &chunk{job: j}
	if _, _, ok := c.split(); ok {
		t.Fatal("an open range split")
	}
	w, _ := c.where()
	if w != "" {
		t.Fatalf("open range where = %q", w)
	}
}

func sliceStream(pairs ...int64) *groupStream {
	g := &groupStream{pull: func() (uint64, int64, bool, error) {
		if len(pairs) == 0 {
			return 0, 0, false, nil
		}
		h, n := pairs[0], pairs[1]
		pairs = pairs[2:]
		return uint64(h), n, true, nil
	}}
	g.next()
	return g
}

func TestMergeGroups(t *testing.T) {
	// Two shards (hash 5 in both: equal rows across shards add up) against
	// the target: hash 1 missing once, 5 equal (2+1 vs 3), 7 extra twice,
	// 9 missing, 11 equal.
	srcs := []*groupStream{sliceStream(1, 1, 5, 2, 9, 1, 11, 1), sliceStream(5, 1)}
	tgt := sliceStream(5, 3, 7, 2, 11, 1)
	got, err := mergeGroups(srcs, tgt, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []groupDiff{{h: 1, delta: 1}, {h: 7, delta: -2}, {h: 9, delta: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("mergeGroups = %+v, want %+v", got, want)
	}
	if got, _ := mergeGroups([]*groupStream{sliceStream(1, 1, 2, 1, 3, 1)}, sliceStream(), 2); len(got) != 2 {
		t.Fatalf("limit 2: %+v", got)
	}
}

func TestGoldenReports(t *testing.T) {
	rep := &Report{Task: "shop", Rows: 120345, Tables: []TableResult{
		{Table: "shop.orders", Sources: []string{"mysql-01:shop_1.orders_1", "mysql-02:shop_2.orders_2"}, Status: StatusDiffer,
			Key: []string{"id"}, Chunks: 13, Rechecked: 2, Missing: 1, Changed: 2, Extra: 1, Rows: []RowDiff{
				{Kind: KindMissing, Key: []string{"id=17"}, Source: "mysql-02:shop_2.orders_2"},
				{Kind: KindChanged, Key: []string{"id=42"}, Columns: []string{"amount", "note"}, Source: "mysql-01:shop_1.orders_1"},
				{Kind: KindChanged, Key: []string{"id=43"}, Columns: []string{"note"}, Source: "mysql-01:shop_1.orders_1"},
				{Kind: KindExtra, Key: []string{"id=99"}},
			}},
		{Table: "shop.logs", Sources: []string{"mysql-01:shop.logs"}, Status: StatusEqual, Keyless: true, Chunks: 1,
			Notes: []string{"no primary key or NOT NULL unique key that orders the same everywhere: compared whole"}},
		{Table: "shop.refunds", Sources: []string{"mysql-01:shop.refunds"}, Status: StatusError, Key: []string{"id"},
			Error: "chunk shop.refunds id in [-inf, +inf): subtask shop/mysql-01: its checkpoint is at mysql-bin.000003:4, 2m0s after the source was read at mysql-bin.000003:9120 (is it running? see dmplan status): sync checkpoint not caught up"},
		{Table: "shop.users", Sources: []string{"mysql-01:shop.users"}, Status: StatusEqual, Key: []string{"id"}, Chunks: 4},
		{Table: "shop.stock", Sources: []string{"mysql-01:shop.stock"}, Status: StatusUnsettled, Key: []string{"sku"}, Chunks: 2,
			Rechecked: 1, Unsettled: 1, Rows: []RowDiff{{Kind: KindUnsettled, Key: []string{"sku=A-1"}, Source: "mysql-01:shop.stock"}}},
	}}
	for _, f := range []struct {
		name   string
		render func(*bytes.Buffer) error
	}{
		{"report.txt", func(b *bytes.Buffer) error { return RenderText(b, rep) }},
		{"report.json", func(b *bytes.Buffer) error { return RenderJSON(b, rep) }},
		{"report.md", func(b *bytes.Buffer) error { return RenderMarkdown(b, rep) }},
	} {
		var b bytes.Buffer
		if err := f.render(&b); err != nil {
			t.Fatal(err)
		}
		checkGolden(t, f.name, b.Bytes())
	}
	if rep.Outcome() != 1 {
		t.Fatalf("an error wins: outcome %d", rep.Outcome())
	}
	rep.Tables = rep.Tables[4:]
	if rep.Outcome() != 1 {
		t.Fatalf("unsettled rows: outcome %d", rep.Outcome())
	}
	rep.Tables = nil
	if rep.Outcome() != 0 {
		t.Fatalf("nothing: outcome %d", rep.Outcome())
	}
	rep.Tables = []TableResult{{Status: StatusDiffer}, {Status: StatusEqual}}
	if rep.Outcome() != 2 {
		t.Fatalf("a difference: outcome %d", rep.Outcome())
	}
	var b bytes.Buffer
	RenderText(&b, &Report{Task: "empty"})
	if !strings.Contains(b.String(), "Equal: 0 tables") {
		t.Fatalf("empty report: %s", b.String())
	}
}
