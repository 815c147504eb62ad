package units

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dmplan/dmplan/internal/golden"
	"github.com/google/go-cmp/cmp"
)

// update is shared by every golden test of package units.
func TestAppendValues(t *testing.T) {
	for _, tc := range []struct {
		in        []byte
		kind      valueKind
		tsv, sqlv string
	}{
		{nil, vkText, `\N`, `NULL`},
		{[]byte{}, vkText, ``, `''`},
		{[]byte("plain"), vkText, `plain`, `'plain'`},
		{[]byte("tab\tnl\ncr\rbs\\nul\x00q'dq\"z\x1a"), vkText, `tab\tnl\ncr\rbs\\nul\0q'dq"z` + "\x1a", `'tab` + "\t" + `nl\ncr\rbs\\nul\0q\'dq\"z\Z'`},
		{[]byte(`\N`), vkText, `\\N`, `'\\N'`},
		{[]byte("NULL"), vkText, `NULL`, `'NULL'`},
		{[]byte("héllo 😀"), vkText, "héllo 😀", "'héllo 😀'"},
		{[]byte{0, 0xff, '\n'}, vkBinary, `00ff0a`, `X'00ff0a'`},
		{[]byte{}, vkBinary, ``, `X''`},
		{nil, vkBinary, `\N`, `NULL`},
		{[]byte{0x0a, 0xaa}, vkBit, `2730`, `2730`},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, vkBit, `18446744073709551615`, `18446744073709551615`},
		{[]byte{0x01, 0, 0, 0, 0, 0, 0, 0, 0}, vkBit, `18446744073709551616`, `18446744073709551616`},
		{nil, vkBit, `\N`, `NULL`},
	} {
		if got := string(appendTSV(nil, tc.in, tc.kind)); got != tc.tsv {
			t.Errorf("appendTSV(%q, %d) = %q, want %q", tc.in, tc.kind, got, tc.tsv)
		}
		if got := string(appendSQL(nil, tc.in, tc.kind)); got != tc.sqlv {
			t.Errorf("appendSQL(%q, %d) = %q, want %q", tc.in, tc.kind, got, tc.sqlv)
		}
	}
}

// TestAppendEscapesEveryByte puts each of the 256 byte values at each
// position of values up to 19 bytes long (the word-at-a-time scan's
// edges: before, inside and after whole words) and compares appendEscapes
// with escaping byte by byte, for both formats.
func TestAppendEscapesEveryByte(t *testing.T) {
	byByte := func(v []byte, esc *escapes) []byte {
		var out []byte
		for _, c := range v {
			if e := esc.letter[c]; e != 0 {
				out = append(out, '\\', e)
			} else {
				out = append(out, c)
			}
		}
		return out
	}
	for _, esc := range []*escapes{&tsvEscapes, &sqlEscapes} {
		for n := 1; n <= 19; n++ {
			for pos := range n {
				for c := range 256 {
					v := []byte(strings.Repeat("é-9", 7)[:n]) // 0xc3 0xa9 among them: bytes >= 0x80 too
					v[pos] = byte(c)
					if got, want := appendEscapes(nil, v, esc), byByte(v, esc); string(got) != string(want) {
						t.Fatalf("appendEscapes(%q) = %q, want %q", v, got, want)
					}
				}
			}
		}
	}
}

func TestKeyRoundTrip(t *testing.T) {
	vals := [][]byte{[]byte("42"), {0, 0xff, '"'}, []byte(`k"é\`)}
	bin := []bool{false, true, false}
	s := encodeKey(vals, bin)
	if s != `["42","00ff22","k\"é\\"]` {
		t.Errorf("encodeKey = %s", s)
	}
	got, err := decodeKey(s, bin)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"42", []byte{0, 0xff, '"'}, `k"é\`}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("decodeKey (-want +got):\n%s", d)
	}
	if _, err := decodeKey(`["1"]`, bin); err == nil {
		t.Error("decodeKey accepted a key of the wrong width")
	}
}

// TestDumpSQL pins the statements dump and load build for awkward tables.
func TestDumpSQL(t *testing.T) {
	def := &Table{Schema: "sh`op", Name: "order", Columns: []Column{
		{Name: "id`x", DataType: "int"},
		{Name: "k2", DataType: "varbinary"},
		{Name: "f", DataType: "float"},
		{Name: "b", DataType: "bit"},
		{Name: "blob", DataType: "blob", Nullable: true},
		{Name: "g", DataType: "int", Generated: true},
		{Name: "e", DataType: "enum"},
	}, Unique: []uniqueIndex{
		{Name: "PRIMARY", Columns: []string{"id`x", "k2"}, NotNull: true},
	}}
	var b strings.Builder
	for _, flavor := range []string{"mariadb", "mysql"} {
		j := newTableJob(def, tableRef{"dst db", "t"}, flavor)
		fmt.Fprintf(&b, "[%s]\nselect: %s\norder: %s\n", flavor, j.selectSQL, j.orderBy)
	}
	j := newTableJob(def, tableRef{"dst db", "t"}, "mariadb")
	for _, r := range []struct{ lo, hi []any }{{nil, nil}, {[]any{"1", []byte("a")}, nil}, {nil, []any{"9", []byte("z")}}, {[]any{"1", []byte("a")}, []any{"9", []byte("z")}}} {
		w, args := j.rangeWhere(r.lo, r.hi)
		fmt.Fprintf(&b, "where:%s %q\n", w, args)
	}
	fmt.Fprintf(&b, "load data: %s\n", loadDataSQL(j, "dmplan-1"))
	j.replace = true
	fmt.Fprintf(&b, "load data (replace): %s\n", loadDataSQL(j, "dmplan-2"))
	cols, key := j.signature()
	fmt.Fprintf(&b, "signature: %s %s\n", cols, key)

	noKey := &Table{Schema: "s", Name: "n", Columns: []Column{{Name: "d", DataType: "double"}}, Unique: []uniqueIndex{
		{Name: "PRIMARY", Columns: []string{"d"}, NotNull: true}, // a DOUBLE key is not orderable exactly
		{Name: "u", Columns: []string{"x"}, NotNull: false},
	}}
	j = newTableJob(noKey, tableRef{"s", "n"}, "mariadb")
	fmt.Fprintf(&b, "no key: %q %q\n", j.selectSQL, j.orderBy)

	for _, ddl := range []string{
		"CREATE TABLE `t` (\n  `id` int(11) NOT NULL\n) ENGINE=InnoDB",
		"CREATE TABLE `we``ird ``name` (\n  `id` int(11) NOT NULL\n)",
		"CREATE TABLE `ünï` (`a` int)",
	} {
		out, err := retargetCreate(ddl, tableRef{"new`db", "tbl"})
		fmt.Fprintf(&b, "create: %q %v\n", out, err)
	}
	_, err := retargetCreate("CREATE VIEW `v` AS SELECT 1", tableRef{"a", "b"})
	fmt.Fprintf(&b, "create view: %v\n", err)
	golden.Check(t, "units/dump_sql.txt", []byte(b.String()))
}

func TestComparePositions(t *testing.T) {
	for _, tc := range []struct {
		a, b Position
		want int
	}{
		{Position{File: "mysql-bin.000001", Pos: 4}, Position{File: "mysql-bin.000001", Pos: 4}, 0},
		{Position{File: "mysql-bin.000001", Pos: 4}, Position{File: "mysql-bin.000001", Pos: 5}, -1},
		{Position{File: "mysql-bin.000002", Pos: 4}, Position{File: "mysql-bin.000001", Pos: 900}, 1},
		{Position{File: "mysql-bin.999999", Pos: 4}, Position{File: "mysql-bin.1000000", Pos: 4}, -1},
		{Position{File: "/data/mysql-bin.000010", Pos: 4}, Position{File: "/data/mysql-bin.000009", Pos: 4}, 1},
	} {
		if got := ComparePositions(tc.a, tc.b); got != tc.want {
			t.Errorf("ComparePositions(%v, %v) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestDecide(t *testing.T) {
	p := func(file string, pos uint32) Position { return Position{File: file, Pos: pos} }
	w := &loadWindows{tables: map[tableRef]tableWindow{
		{"s", "once"}:  {Schema: "s", Table: "once", From: p("b.000002", 100), Until: p("b.000002", 100)},
		{"s", "mixed"}: {Schema: "s", Table: "mixed", From: p("b.000001", 500), Until: p("b.000002", 100)},
	}}
	for _, tc := range []struct {
		table string
		at    Position
		want  eventAction
	}{
		{"once", p("b.000001", 900), eventSkip},
		{"once", p("b.000002", 100), eventSkip},
		{"once", p("b.000002", 101), eventApply},
		{"mixed", p("b.000001", 500), eventSkip},
		{"mixed", p("b.000001", 501), eventIdempotent},
		{"mixed", p("b.000002", 100), eventIdempotent},
		{"mixed", p("b.000003", 4), eventApply},
		{"new", p("b.000001", 1), eventApply},
	} {
		if got := w.Decide("s", tc.table, tc.at); got != tc.want {
			t.Errorf("Decide(%s at %v) = %v, want %v", tc.table, tc.at, got, tc.want)
		}
	}
	var none *loadWindows
	if none.Decide("s", "t", p("b.000001", 4)) != eventApply {
		t.Error("nil windows must apply everything")
	}
}
