package ddl

import (
	"slices"
	"testing"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // value expressions of the AST
)

// everything replicates every table under its own name.
type everything struct{}

func (everything) Route(schema, table string) Route { return Route{To: Table{schema, table}} }
func (everything) Replicates(string) bool           { return true }

// oracleCases are statements beyond planCases that TiDB's parser reads
// too (MariaDB-only syntax, such as CREATE OR REPLACE, it does not).
var oracleCases = []planCase{
	{"d", "CREATE TABLE IF NOT EXISTS `x y`.`t``1` (a INT, KEY k (a)) ENGINE=InnoDB", 0, ""},
	{"d", "create table t (a varchar(10) default 'drop table x', b int comment \"rename table y to z\")", 0, ""},
	{"d", "CREATE TEMPORARY TABLE t (a INT)", 0, ""},
	{"d", "DROP TEMPORARY TABLE IF EXISTS t", 0, ""},
	{"d", "DROP TABLES a, e.b, `c`", 0, ""},
	{"d", "RENAME TABLE a TO e.a, `b` TO `c`", 0, ""},
	{"d", "ALTER TABLE a ADD INDEX (b), RENAME TO c", 0, ""},
	{"d", "ALTER TABLE a RENAME KEY k TO k2", 0, ""},
	{"d", "ALTER TABLE e.a /* RENAME TO x */ ADD COLUMN `rename` INT", 0, ""},
	{"d", "ALTER TABLE a PARTITION BY HASH(id) PARTITIONS 4", 0, ""},
	{"d", "CREATE INDEX i USING BTREE ON e.a (b)", 0, ""},
	{"d", "DROP INDEX `i` ON a", 0, ""},
	{"d", "TRUNCATE e.a", 0, ""},
	{"", "CREATE SCHEMA IF NOT EXISTS e", 0, ""},
	{"", "DROP SCHEMA IF EXISTS `e`", 0, ""},
	{"", "ALTER DATABASE e CHARACTER SET utf8mb4", 0, ""},
	{"d", "CREATE TABLE \"a\" (\"b\" INT)", ModeANSIQuotes, ""},
	{"d", "CREATE VIEW v AS SELECT 1", 0, ""},
	{"d", "CREATE USER u IDENTIFIED BY 'p'", 0, ""},
}

// tidbNames returns the tables, or else the databases, that TiDB's parser
// finds a statement to be about; ok=false when it does not read the
// statement, or reads it as something the oracle does not compare.
func tidbNames(t *testing.T, c planCase) (tables []Table, dbs []string, ok bool) {
	p := parser.New()
	var mode mysql.SQLMode
	if c.mode&ModeANSIQuotes != 0 {
		mode |= mysql.ModeANSIQuotes
	}
	if c.mode&ModeNoBackslashEscapes != 0 {
		mode |= mysql.ModeNoBackslashEscapes
	}
	p.SetSQLMode(mode)
	stmts, _, err := p.Parse(c.query, "", "")
	if err != nil || len(stmts) != 1 {
		return nil, nil, false
	}
	add := func(n *ast.TableName) {
		db := n.Schema.O
		if db == "" {
			db = c.schema
		}
		tables = append(tables, Table{db, n.Name.O})
	}
	switch s := stmts[0].(type) {
	case *ast.CreateTableStmt:
		if s.TemporaryKeyword == ast.TemporaryNone {
			add(s.Table)
			if s.ReferTable != nil {
				add(s.ReferTable)
			}
		}
	case *ast.AlterTableStmt:
		add(s.Table)
		for _, spec := range s.Specs {
			if spec.Tp == ast.AlterTableRenameTable {
				add(spec.NewTable)
			}
		}
	case *ast.DropTableStmt:
		if !s.IsView && s.TemporaryKeyword == ast.TemporaryNone {
			for _, n := range s.Tables {
				add(n)
			}
		}
	case *ast.RenameTableStmt:
		for _, tt := range s.TableToTables {
			add(tt.OldTable)
			add(tt.NewTable)
		}
	case *ast.TruncateTableStmt:
		add(s.Table)
	case *ast.CreateIndexStmt:
		add(s.Table)
	case *ast.DropIndexStmt:
		add(s.Table)
	case *ast.CreateDatabaseStmt:
		dbs = []string{s.Name.O}
	case *ast.DropDatabaseStmt:
		dbs = []string{s.Name.O}
	case *ast.AlterDatabaseStmt:
		name := s.Name.O
		if s.AlterDefaultDatabase || name == "" {
			name = c.schema
		}
		dbs = []string{name}
	case ast.DMLNode:
		return nil, nil, false
	}
	return tables, dbs, true
}

// TestPlanAgreesWithTiDB: where TiDB's SQL parser reads a statement, the
// lexer finds the same tables (or databases) in it, in the same order.
func TestPlanAgreesWithTiDB(t *testing.T) {
	compared := 0
	for _, c := range slices.Concat(planCases, oracleCases) {
		tables, dbs, ok := tidbNames(t, c)
		if !ok {
			continue
		}
		compared++
		p, err := PlanStatement(everything{}, c.schema, c.query, c.mode)
		if err != nil {
			t.Errorf("[%s] %s: %v", c.schema, c.query, err)
			continue
		}
		var gotTables []Table
		var gotDBs []string
		if p != nil {
			gotTables, gotDBs = p.Src, p.DBs
		}
		if !slices.Equal(gotTables, tables) || !slices.Equal(gotDBs, dbs) {
			t.Errorf("[%s] %s\n lexer tables=%v dbs=%v\n  tidb tables=%v dbs=%v", c.schema, c.query, gotTables, gotDBs, tables, dbs)
		}
	}
	t.Logf("compared %d statements with TiDB's parser", compared)
	if compared < len(oracleCases) {
		t.Errorf("TiDB's parser read only %d statements of %d", compared, len(planCases)+len(oracleCases))
	}
}
