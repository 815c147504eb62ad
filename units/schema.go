package units

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrTableNotFound is returned by readTable when the table does not exist.
var ErrTableNotFound = errors.New("table not found")

// querier is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Column is one column of a table, as information_schema describes it.
type Column struct {
	Name       string
	DataType   string // lower case base type: "int", "varchar", "datetime", ...
	ColumnType string // full type: "int(10) unsigned", "enum('a','b')", ...
	Nullable   bool
	Unsigned   bool
	Generated  bool // VIRTUAL or STORED generated: never written, the target computes it
	AutoInc    bool // AUTO_INCREMENT
}

// uniqueIndex is a unique index: its name and columns in index order.
type uniqueIndex struct {
	Name    string // "PRIMARY" for the primary key
	Columns []string
	NotNull bool // every column is NOT NULL
	Prefix  bool // some column is indexed by a prefix only
}

// Table is a base table's definition: what dump, load and sync need to
// read and write its rows.
type Table struct {
	Schema, Name string
	Columns      []Column // in ordinal order, generated columns included
	// PK is the key that identifies a row: the primary key, or else the
	// first unique index whose columns are all NOT NULL; nil when none.
	PK      []string
	KeyName string        // index name of PK ("PRIMARY" or the unique index), "" when none
	Unique  []uniqueIndex // every unique index, the primary key first
}

// String is `schema`.`name`.
func (t *Table) String() string { return quoteTable(t.Schema, t.Name) }

// Column returns the column called name, or nil.
func (t *Table) Column(name string) *Column {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i]
		}
	}
	return nil
}

func (t *Table) hasAutoIncrement() bool {
	for _, c := range t.Columns {
		if c.AutoInc {
			return true
		}
	}
	return false
}

// autoIncColumn is the name of the AUTO_INCREMENT column, or "".
func (t *Table) autoIncColumn() string {
	for _, c := range t.Columns {
		if c.AutoInc {
			return c.Name
		}
	}
	return ""
}

// WritableColumns are the columns a loader or applier writes: all but the
// generated ones.
func (t *Table) WritableColumns() []Column {
	out := make([]Column, 0, len(t.Columns))
	for _, c := range t.Columns {
		if !c.Generated {
			out = append(out, c)
		}
	}
	return out
}

// readTable reads the definition of schema.name from information_schema.
func readTable(ctx context.Context, q querier, schema, name string) (*Table, error) {
	t := &Table{Schema: schema, Name: name}
	rows, err := q.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, EXTRA
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, schema, name)
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", t, err)
	}
	for rows.Next() {
		var c Column
		var nullable, extra string
		if err := rows.Scan(&c.Name, &c.DataType, &c.ColumnType, &nullable, &extra); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read columns of %s: %w", t, err)
		}
		c.DataType = strings.ToLower(c.DataType)
		c.Nullable = nullable == "YES"
		c.Unsigned = strings.Contains(strings.ToLower(c.ColumnType), "unsigned")
		extra = strings.ToUpper(extra)
		c.Generated = strings.Contains(extra, "VIRTUAL GENERATED") || strings.Contains(extra, "STORED GENERATED") ||
			strings.Contains(extra, "PERSISTENT GENERATED")
		c.AutoInc = strings.Contains(extra, "AUTO_INCREMENT")
		t.Columns = append(t.Columns, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", t, err)
	}
	rows.Close()
	if len(t.Columns) == 0 {
		return nil, fmt.Errorf("read %s: %w", t, ErrTableNotFound)
	}
	if err := t.readKeys(ctx, q); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Table) readKeys(ctx context.Context, q querier) error {
	rows, err := q.QueryContext(ctx, `SELECT INDEX_NAME, COLUMN_NAME, SUB_PART
		FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0
		ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX`, t.Schema, t.Name)
	if err != nil {
		return fmt.Errorf("read keys of %s: %w", t, err)
	}
	defer rows.Close()
	for rows.Next() {
		var idx, col string
		var sub sql.NullInt64
		if err := rows.Scan(&idx, &col, &sub); err != nil {
			return fmt.Errorf("read keys of %s: %w", t, err)
		}
		if n := len(t.Unique); n == 0 || t.Unique[n-1].Name != idx {
			t.Unique = append(t.Unique, uniqueIndex{Name: idx, NotNull: true})
		}
		u := &t.Unique[len(t.Unique)-1]
		u.Columns = append(u.Columns, col)
		if sub.Valid {
			u.Prefix = true
		}
		if c := t.Column(col); c == nil || c.Nullable {
			u.NotNull = false
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read keys of %s: %w", t, err)
	}
	for _, u := range t.Unique {
		if u.NotNull {
			t.PK, t.KeyName = u.Columns, u.Name
			break
		}
	}
	return nil
}

// chunkKey picks the index dump paginates by: the primary key, or else the
// first NOT NULL unique index, provided the server compares and orders
// every column of it the same way (no FLOAT/DOUBLE, ENUM/SET, BIT, JSON,
// spatial or prefix-indexed columns). It returns "" when there is none:
// the table is then dumped and loaded as one chunk.
func (t *Table) chunkKey() (string, []string) {
	for _, u := range t.Unique {
		if !u.NotNull || u.Prefix {
			continue
		}
		ok := true
		for _, name := range u.Columns {
			if c := t.Column(name); c == nil || !orderableType(c.DataType) {
				ok = false
			}
		}
		if ok {
			return u.Name, u.Columns
		}
	}
	return "", nil
}

func orderableType(dataType string) bool {
	switch dataType {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint",
		"decimal", "numeric",
		"char", "varchar", "binary", "varbinary",
		"date", "datetime", "timestamp", "time", "year":
		return true
	}
	return false
}

// isBinaryType reports whether values of the column are bytes with no
// character set (they travel hex-encoded).
func isBinaryType(c Column) bool {
	switch c.DataType {
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob",
		"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
		"multipolygon", "geometrycollection":
		return true
	}
	return false
}

// isBinaryKeyCol reports whether a key column's values are compared as
// bytes (sent as binary parameters) rather than as text.
func isBinaryKeyCol(c *Column) bool {
	return c != nil && (c.DataType == "binary" || c.DataType == "varbinary")
}

// tableRef names a table: schema and name.
type tableRef struct{ Schema, Name string }

func (r tableRef) String() string { return quoteTable(r.Schema, r.Name) }

// systemSchemas are never dumped.
var systemSchemas = []string{"mysql", "sys", "information_schema", "performance_schema", metaSchema}

// userTablesSQL lists the base tables outside systemSchemas. Naming them
// in the query keeps the server from opening their tables: on a
// Debian-defaults server 0.4 ms instead of 6-8 ms idle (17-37 ms under
// load), mostly performance_schema's and mysql's. Callers still skip
// systemSchemas by their lower-case names.
var userTablesSQL = func() string {
	var b strings.Builder
	b.WriteString("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN (")
	for i, s := range systemSchemas {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("'" + s + "'")
	}
	b.WriteString(")")
	return b.String()
}()

// listTables returns the base tables (views excluded) that match, sorted.
func listTables(ctx context.Context, q querier, match func(db, table string) bool) ([]tableRef, error) {
	rows, err := q.QueryContext(ctx, userTablesSQL+" ORDER BY TABLE_SCHEMA, TABLE_NAME")
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	var out []tableRef
	for rows.Next() {
		var r tableRef
		if err := rows.Scan(&r.Schema, &r.Name); err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		if slices.Contains(systemSchemas, strings.ToLower(r.Schema)) || !match(r.Schema, r.Name) {
			continue
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// showCreateTable returns the source's CREATE TABLE statement for t.
func showCreateTable(ctx context.Context, q querier, t tableRef) (string, error) {
	var name, ddl string
	if err := q.QueryRowContext(ctx, "SHOW CREATE TABLE "+t.String()).Scan(&name, &ddl); err != nil {
		return "", fmt.Errorf("show create table %s: %w", t, err)
	}
	return ddl, nil
}

// retargetCreate rewrites "CREATE TABLE `name` (..." into
// "CREATE TABLE IF NOT EXISTS `db`.`table` (...": the definition of a
// source table under its routed name on the target.
func retargetCreate(ddl string, to tableRef) (string, error) {
	const prefix = "CREATE TABLE "
	if !strings.HasPrefix(ddl, prefix) {
		return "", fmt.Errorf("unexpected SHOW CREATE TABLE output for %s: %.40q", to, ddl)
	}
	rest := ddl[len(prefix):]
	end := quotedIdentEnd(rest)
	if end < 0 {
		return "", fmt.Errorf("unexpected SHOW CREATE TABLE output for %s: %.40q", to, ddl)
	}
	return "CREATE TABLE IF NOT EXISTS " + to.String() + rest[end:], nil
}

// quotedIdentEnd returns the length of the backtick-quoted identifier at
// the start of s (doubled backticks inside), or -1.
func quotedIdentEnd(s string) int {
	if !strings.HasPrefix(s, "`") {
		return -1
	}
	for i := 1; i < len(s); i++ {
		if s[i] != '`' {
			continue
		}
		if i+1 < len(s) && s[i+1] == '`' {
			i++
			continue
		}
		return i + 1
	}
	return -1
}
