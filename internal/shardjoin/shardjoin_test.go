package shardjoin

import (
	"slices"
	"strings"
	"testing"
)

const base = "CREATE TABLE `orders_1` (\n" +
	"  `id` bigint(20) NOT NULL,\n" +
	"  `k` int(11) NOT NULL,\n" +
	"  `c` varchar(40) NOT NULL,\n" +
	"  `d` decimal(10,2) DEFAULT NULL,\n" +
	"  PRIMARY KEY (`id`),\n" +
	"  KEY `kk` (`k`)\n" +
	") ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci"

func mustParse(t *testing.T, s string) Table {
	t.Helper()
	tb, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// edit returns base with line replacements ("old" -> "new", "" new deletes,
// "" old appends a column line before the keys).
func edit(t *testing.T, pairs ...string) Table {
	t.Helper()
	s := base
	for i := 0; i+1 < len(pairs); i += 2 {
		switch {
		case pairs[i] == "":
			s = strings.Replace(s, "  PRIMARY KEY", "  "+pairs[i+1]+",\n  PRIMARY KEY", 1)
		case pairs[i+1] == "":
			s = strings.Replace(s, "  "+pairs[i]+",\n", "", 1)
		default:
			s = strings.Replace(s, pairs[i], pairs[i+1], 1)
		}
	}
	return mustParse(t, s)
}

func TestParse(t *testing.T) {
	tb := mustParse(t, base)
	if got := tb.String(); got != "(`id` bigint(20) NOT NULL, `k` int(11) NOT NULL, `c` varchar(40) NOT NULL, `d` decimal(10,2) DEFAULT NULL, PRIMARY KEY (`id`), KEY `kk` (`k`))" {
		t.Errorf("String() = %s", got)
	}
	if tb.Options != "ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci" || tb.Indexes[0].Name != "PRIMARY" || tb.Indexes[1].Name != "kk" {
		t.Errorf("parsed %+v", tb)
	}
	odd := mustParse(t, "CREATE TABLE `t` (\n  `a``b` enum('x) y','z') DEFAULT NULL\n) ENGINE=InnoDB")
	if odd.Columns[0].Name != "a`b" || parseType(odd.Columns[0].Def).params != "'x) y','z'" {
		t.Errorf("parsed %+v", odd)
	}
	if _, err := Parse("nonsense"); err == nil {
		t.Error("Parse accepted nonsense")
	}
}

func TestWider(t *testing.T) {
	for _, c := range []struct {
		a, b, want string
		ok         bool
	}{
		{"int(11) NOT NULL", "bigint(20) NOT NULL", "bigint(20) NOT NULL", true},
		{"bigint(20) NOT NULL", "int(11) NOT NULL", "bigint(20) NOT NULL", true},
		{"int(11) NOT NULL", "int(10) unsigned NOT NULL", "", false},
		{"varchar(20) DEFAULT NULL", "varchar(40) DEFAULT NULL", "varchar(40) DEFAULT NULL", true},
		{"varchar(20) DEFAULT NULL", "varchar(40) NOT NULL", "", false},
		{"varchar(20) DEFAULT NULL", "text DEFAULT NULL", "", false},
		{"text DEFAULT NULL", "mediumtext DEFAULT NULL", "mediumtext DEFAULT NULL", true},
		{"decimal(10,2) DEFAULT NULL", "decimal(12,4) DEFAULT NULL", "decimal(12,4) DEFAULT NULL", true},
		{"decimal(10,2) DEFAULT NULL", "decimal(10,4) DEFAULT NULL", "", false},
		{"float DEFAULT NULL", "double DEFAULT NULL", "double DEFAULT NULL", true},
		{"varchar(20) DEFAULT 'a'", "varchar(20) DEFAULT 'b'", "", false},
		{"enum('a','b') DEFAULT NULL", "enum('a','b','c') DEFAULT NULL", "", false},
	} {
		got, ok := wider(c.a, c.b)
		if got != c.want || ok != c.ok {
			t.Errorf("wider(%q, %q) = %q, %v; want %q, %v", c.a, c.b, got, ok, c.want, c.ok)
		}
	}
}

func TestDecide(t *testing.T) {
	b := mustParse(t, base)
	withNote := edit(t, "", "`note` varchar(20) DEFAULT NULL")
	for _, c := range []struct {
		name          string
		before, after Table
		others        []Table
		conflict      string // substring; "" compatible
		touched       []string
		clauses       []string // against a target equal to the join before the DDL
	}{
		{name: "add nullable column", after: withNote, others: []Table{b},
			touched: []string{"column:note"}, clauses: []string{"ADD COLUMN `note` varchar(20) DEFAULT NULL"}},
		{name: "add column with default", after: edit(t, "", "`s` int(11) NOT NULL DEFAULT 0"), others: []Table{b},
			touched: []string{"column:s"}, clauses: []string{"ADD COLUMN `s` int(11) NOT NULL DEFAULT 0"}},
		{name: "add column another shard added the same", after: withNote, others: []Table{withNote},
			touched: []string{"column:note"}},
		{name: "add column narrower than another shard's", after: withNote, others: []Table{edit(t, "", "`note` varchar(30) DEFAULT NULL")},
			touched: []string{"column:note"}},
		{name: "add column wider than another shard's", after: edit(t, "", "`note` varchar(30) DEFAULT NULL"), others: []Table{withNote},
			touched: []string{"column:note"}, clauses: []string{"MODIFY COLUMN `note` varchar(30) DEFAULT NULL"}},
		{name: "widen a type", after: edit(t, "`k` int(11)", "`k` bigint(20)"), others: []Table{b},
			touched: []string{"column:k"}, clauses: []string{"MODIFY COLUMN `k` bigint(20) NOT NULL"}},
		{name: "add an index", after: edit(t, "KEY `kk` (`k`)", "KEY `kk` (`k`),\n  KEY `kc` (`c`)"), others: []Table{b},
			touched: []string{"index:kc"}, clauses: []string{"ADD KEY `kc` (`c`)"}},
		{name: "drop an index others have", after: edit(t, "  PRIMARY KEY (`id`),\n  KEY `kk` (`k`)", "  PRIMARY KEY (`id`)"), others: []Table{b},
			touched: []string{"index:kk"}},
		{name: "drop a column only this shard has", before: withNote, after: b, others: []Table{b},
			touched: []string{"column:note"}, clauses: []string{"DROP COLUMN `note`"}},

		{name: "add NOT NULL column without default", after: edit(t, "", "`s` int(11) NOT NULL"), others: []Table{b},
			conflict: "adds column `s` NOT NULL without a default, which shard o0 lacks"},
		{name: "add a column another shard has as another type", after: withNote, others: []Table{edit(t, "", "`note` int(11) DEFAULT NULL")},
			conflict: "adds column `note` as varchar(20) DEFAULT NULL, but shard o0 has it as int(11) DEFAULT NULL"},
		{name: "drop a column others have", after: edit(t, "`d` decimal(10,2) DEFAULT NULL", ""), others: []Table{b},
			conflict: "drops column `d`, but shard o0 still has it"},
		{name: "rename a column", after: edit(t, "`d` decimal", "`e` decimal"), others: []Table{b},
			conflict: "renames column `d` to `e`, but shard o0 still has `d`"},
		{name: "narrow a type", after: edit(t, "`c` varchar(40)", "`c` varchar(20)"), others: []Table{b},
			conflict: "narrows column `c` from varchar(40) NOT NULL to varchar(20) NOT NULL, but shard o0 still has varchar(40) NOT NULL"},
		{name: "change a default", after: edit(t, "`d` decimal(10,2) DEFAULT NULL", "`d` decimal(10,2) DEFAULT 1.00"), others: []Table{b},
			conflict: "changes column `d` from decimal(10,2) DEFAULT NULL to decimal(10,2) DEFAULT 1.00, but shard o0 still has decimal(10,2) DEFAULT NULL"},
		{name: "an index defined differently", after: edit(t, "KEY `kk` (`k`)", "KEY `kk` (`k`),\n  KEY `kc` (`c`)"), others: []Table{edit(t, "KEY `kk` (`k`)", "KEY `kk` (`k`),\n  KEY `kc` (`k`,`c`)")},
			conflict: "defines index `kc` as KEY `kc` (`c`), but shard o0 has KEY `kc` (`k`,`c`)"},
		{name: "table options", after: edit(t, "ENGINE=InnoDB", "ENGINE=Aria"), others: []Table{b},
			conflict: "changes the table options"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := c.before
			if before.Columns == nil {
				before = b
			}
			var others []Shard
			all := []Table{before}
			for i, o := range c.others {
				others = append(others, Shard{Name: "o" + string(rune('0'+i)), Table: o})
				all = append(all, o)
			}
			d := Decide(before, c.after, others)
			if c.conflict != "" {
				if !strings.Contains(d.Conflict, c.conflict) || d.With != "o0" {
					t.Fatalf("conflict %q with %q, want %q with o0", d.Conflict, d.With, c.conflict)
				}
				return
			}
			if d.Conflict != "" {
				t.Fatalf("unexpected conflict: %s", d.Conflict)
			}
			if !slices.Equal(d.Touched, c.touched) {
				t.Errorf("touched %v, want %v", d.Touched, c.touched)
			}
			target := Join(all)
			joined := Join(append([]Table{c.after}, c.others...))
			if got := Clauses(target, joined, d.Touched); !slices.Equal(got, c.clauses) {
				t.Errorf("clauses %q, want %q", got, c.clauses)
			}
			if got := Clauses(joined, joined, d.Touched); len(got) != 0 {
				t.Errorf("clauses on a target at the join: %q", got)
			}
		})
	}
}

func TestJoinAndClausesConverge(t *testing.T) {
	b := mustParse(t, base)
	a1 := edit(t, "", "`note` varchar(20) DEFAULT NULL")
	a2 := edit(t, "", "`note` varchar(30) DEFAULT NULL", "`k` int(11)", "`k` bigint(20)")
	j := Join([]Table{b, a1, a2})
	want := "(`id` bigint(20) NOT NULL, `k` bigint(20) NOT NULL, `c` varchar(40) NOT NULL, `d` decimal(10,2) DEFAULT NULL, `note` varchar(30) DEFAULT NULL, PRIMARY KEY (`id`), KEY `kk` (`k`))"
	if j.String() != want {
		t.Errorf("join %s\nwant %s", j, want)
	}
	// A stale decision (varchar(20)) replayed after a wider one: the
	// clauses follow the join, never narrowing the target.
	if got := Clauses(j, j, []string{"column:note", "column:k"}); len(got) != 0 {
		t.Errorf("clauses %q", got)
	}
	if got := Clauses(b, j, []string{"index:kk", "column:d"}); len(got) != 0 {
		t.Errorf("untouched parts changed: %q", got)
	}
	idx := edit(t, "KEY `kk` (`k`)", "UNIQUE KEY `kk` (`k`,`c`)")
	if got := Clauses(b, idx, []string{"index:kk", "index:PRIMARY"}); !slices.Equal(got, []string{"DROP INDEX `kk`, ADD UNIQUE KEY `kk` (`k`,`c`)"}) {
		t.Errorf("clauses %q", got)
	}
	if !b.Equal(mustParse(t, base)) || b.Equal(a1) {
		t.Error("Equal")
	}
}

func TestDecideNew(t *testing.T) {
	b := mustParse(t, base)
	others := []Shard{{Name: "o0", Table: b}}
	for _, c := range []struct {
		name     string
		t        Table
		conflict string
		clauses  []string
	}{
		{name: "same definition", t: b},
		{name: "an extra nullable column", t: edit(t, "", "`x` int(11) DEFAULT NULL"), clauses: []string{"ADD COLUMN `x` int(11) DEFAULT NULL"}},
		{name: "a wider column", t: edit(t, "`c` varchar(40)", "`c` varchar(80)"), clauses: []string{"MODIFY COLUMN `c` varchar(80) NOT NULL"}},
		{name: "lacks a nullable column", t: edit(t, "`d` decimal(10,2) DEFAULT NULL", "")},
		{name: "lacks a NOT NULL column", t: edit(t, "`c` varchar(40) NOT NULL", ""), conflict: "lacks column `c`, which shard o0 has NOT NULL without a default"},
		{name: "a NOT NULL column others lack", t: edit(t, "", "`x` int(11) NOT NULL"), conflict: "has column `x` NOT NULL without a default, which shard o0 lacks"},
		{name: "a column of another type", t: edit(t, "`k` int(11) NOT NULL", "`k` varchar(5) NOT NULL"), conflict: "has column `k` as varchar(5) NOT NULL, but shard o0 has it as int(11) NOT NULL"},
		{name: "an index defined differently", t: edit(t, "KEY `kk` (`k`)", "KEY `kk` (`c`)"), conflict: "defines index `kk` as KEY `kk` (`c`), but shard o0 has KEY `kk` (`k`)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := DecideNew(c.t, others)
			if c.conflict != "" {
				if !strings.Contains(d.Conflict, c.conflict) || d.With != "o0" {
					t.Fatalf("conflict %q with %q, want %q", d.Conflict, d.With, c.conflict)
				}
				return
			}
			if d.Conflict != "" {
				t.Fatalf("unexpected conflict: %s", d.Conflict)
			}
			if got := Clauses(b, Join([]Table{b, c.t}), d.Touched); !slices.Equal(got, c.clauses) {
				t.Errorf("clauses %q, want %q", got, c.clauses)
			}
		})
	}
}
