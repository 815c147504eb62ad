package ddl

import (
	"strings"
	"testing"
)

// fuzzResolver routes every table of schema "skip" nowhere, of "merge" into
// one merged table, and the rest to "t_<schema>".<table>.
type fuzzResolver struct{}

func (fuzzResolver) Route(schema, table string) Route {
	switch schema {
	case "skip", "mysql", "information_schema", "performance_schema", "sys":
		return Route{Skip: true}
	case "merge":
		return Route{To: Table{Schema: "m", Name: "all"}, Merged: true}
	}
	return Route{To: Table{Schema: "t_" + schema, Name: table}}
}

func (fuzzResolver) Replicates(schema string) bool { return schema != "skip" }

// FuzzPlanStatement feeds the lexer and planner any statement text, as the
// binlog may: it never panics, and a statement it plans reads back as SQL
// the lexer accepts, naming at least what it runs.
func FuzzPlanStatement(f *testing.F) {
	for _, s := range []string{
		"CREATE TABLE a (id INT PRIMARY KEY)",
		"ALTER TABLE `shop`.`orders` ADD COLUMN note TEXT, ADD INDEX (note(10))",
		"RENAME TABLE a TO b, skip.c TO d",
		"DROP TABLE IF EXISTS a, merge.b, skip.c /* comment */",
		"CREATE INDEX i ON a (x)",
		"create database if not exists `we``ird`",
		"ALTER TABLE \"x\".\"y\" DROP COLUMN z",
		"INSERT INTO a SELECT * FROM b",
		"TRUNCATE TABLE merge.x",
		"CREATE TABLE t2 AS SELECT 'unterminated",
		"-- only a comment\n",
		"GRANT ALL ON *.* TO 'u'@'%' IDENTIFIED BY 'secret'",
	} {
		f.Add("shop", s, false, false)
	}
	f.Add("shop", "ALTER TABLE \"a\" ADD b INT", true, false)
	f.Add("shop", `CREATE TABLE a (s VARCHAR(3) DEFAULT 'x\'y')`, false, true)
	f.Fuzz(func(t *testing.T, schema, query string, ansi, noBackslash bool) {
		var mode uint64
		if ansi {
			mode |= ModeANSIQuotes
		}
		if noBackslash {
			mode |= ModeNoBackslashEscapes
		}
		p, err := PlanStatement(fuzzResolver{}, schema, query, mode)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if p == nil {
			return
		}
		if strings.TrimSpace(p.Stmt) == "" {
			t.Fatalf("planned %q into an empty statement", query)
		}
		for _, s := range append([]string{p.Stmt}, p.Pre...) {
			if _, err := lex(s, ansi, noBackslash); err != nil {
				t.Fatalf("planned %q into %q, which does not lex: %v", query, s, err)
			}
		}
		for _, tb := range p.Tables {
			if tb.Schema == "skip" {
				t.Fatalf("planned %q touches a table of a schema that is not replicated: %+v", query, p)
			}
		}
	})
}
