package units

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// colKind says how the sync applier renders and compares one column.
type colKind uint8

const (
	kindInt      colKind = iota // TINYINT..BIGINT: int64, or uint64 when unsigned
	kindYear                    // YEAR: int64
	kindFloat                   // FLOAT (float32) and DOUBLE (float64)
	kindDecimal                 // DECIMAL: the decimal text
	kindTemporal                // DATE, TIME, DATETIME, TIMESTAMP: text in UTC
	kindText                    // CHAR, VARCHAR, TEXT, MariaDB JSON: bytes in the column's character set
	kindBytes                   // BINARY, VARBINARY, BLOB, spatial types, UUID, INET6: raw bytes
	kindEnum                    // ENUM: the 1-based index
	kindSet                     // SET: the bitmask
	kindBit                     // BIT: uint64
	kindJSON                    // MySQL's binary JSON: the JSON text
)

// syncCol is one target column as the applier uses it.
type syncCol struct {
	name      string
	quoted    string
	kind      colKind
	dataType  string
	unsigned  bool
	generated bool
	charset   string // text columns: the character set ("" when utf8 or ascii: sent as is)
	fold      bool   // text columns: the collation ignores case (for causality keys)
	padTo     int    // BINARY(n): n (the binlog strips trailing zero bytes; comparisons need them)
}

// syncTable is what the sync unit knows of one target table. It is
// immutable once built; a DDL replaces it.
type syncTable struct {
	dst      tableRef
	quoted   string    // `db`.`table`
	cols     []syncCol // in ordinal order, generated columns included, as in the binlog
	key      []int     // the NOT NULL key that identifies a row (primary key first); nil when none
	keyIdx   int       // index of key in uniques; -1 when none
	uniques  [][]int   // every unique index: conflicts between changes (causality)
	writable []int     // columns written: all but the generated ones
	// insertHead is "INSERT INTO `db`.`t` (`a`,`b`) VALUES ", replaceHead the same with REPLACE.
	insertHead, replaceHead string
	// fkGroup names the group of tables that cascading foreign keys link
	// this one to ("" when none): its changes are applied by one worker, in
	// binlog order, with foreign_key_checks=1 (fk.go).
	fkGroup string
	// proj: a table written through a source view (sync_view.go): for each
	// column, the view column its value comes from, or -1 (not written)
	proj []int
}

// readSyncTable reads the definition of a target table.
func readSyncTable(ctx context.Context, q querier, dst tableRef) (*syncTable, error) {
	def, err := readTable(ctx, q, dst.Schema, dst.Name)
	if err != nil {
		return nil, err
	}
	charsets, err := readCollations(ctx, q, dst)
	if err != nil {
		return nil, err
	}
	t := &syncTable{dst: dst, quoted: dst.String(), keyIdx: -1}
	index := map[string]int{}
	for i, c := range def.Columns {
		sc := syncCol{name: c.Name, quoted: QuoteIdent(c.Name), dataType: c.DataType, unsigned: c.Unsigned, generated: c.Generated}
		sc.kind = kindOfColumn(c.DataType)
		if c.DataType == "binary" {
			sc.padTo = typeLength(c.ColumnType)
		}
		if sc.kind == kindText {
			cc := charsets[c.Name]
			if !utf8Compatible(cc[0]) {
				sc.charset = cc[0]
			}
			sc.fold = cc[1] != "" && !strings.HasSuffix(cc[1], "_bin") && cc[1] != "binary"
		}
		index[c.Name] = i
		t.cols = append(t.cols, sc)
		if !c.Generated {
			t.writable = append(t.writable, i)
		}
	}
	for _, u := range def.Unique {
		idx := make([]int, 0, len(u.Columns))
		for _, name := range u.Columns {
			idx = append(idx, index[name])
		}
		t.uniques = append(t.uniques, idx)
		if t.key == nil && u.NotNull && !t.anyGenerated(idx) {
			t.key, t.keyIdx = idx, len(t.uniques)-1
		}
	}
	t.setHeads()
	return t, nil
}

func (t *syncTable) anyGenerated(cols []int) bool {
	for _, c := range cols {
		if t.cols[c].generated {
			return true
		}
	}
	return false
}

// readCollations returns each text column's character set and collation.
func readCollations(ctx context.Context, q querier, dst tableRef) (map[string][2]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT COLUMN_NAME, COALESCE(CHARACTER_SET_NAME, ''), COALESCE(COLLATION_NAME, '')
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, dst.Schema, dst.Name)
	if err != nil {
		return nil, fmt.Errorf("read collations of %s: %w", dst, err)
	}
	defer rows.Close()
	out := map[string][2]string{}
	for rows.Next() {
		var name, cs, coll string
		if err := rows.Scan(&name, &cs, &coll); err != nil {
			return nil, fmt.Errorf("read collations of %s: %w", dst, err)
		}
		out[name] = [2]string{strings.ToLower(cs), strings.ToLower(coll)}
	}
	return out, rows.Err()
}

// typeLength is n in a column type like "binary(n)"; 0 when absent.
func typeLength(columnType string) int {
	open := strings.IndexByte(columnType, '(')
	end := strings.IndexByte(columnType, ')')
	if open < 0 || end < open {
		return 0
	}
	n, err := strconv.Atoi(columnType[open+1 : end])
	if err != nil {
		return 0
	}
	return n
}

func utf8Compatible(cs string) bool {
	switch cs {
	case "", "utf8mb4", "utf8mb3", "utf8", "ascii":
		return true
	}
	return false
}

// kindOfColumn maps information_schema's DATA_TYPE to a colKind.
func kindOfColumn(dataType string) colKind {
	switch dataType {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		return kindInt
	case "year":
		return kindYear
	case "float", "double", "real":
		return kindFloat
	case "decimal", "numeric":
		return kindDecimal
	case "date", "time", "datetime", "timestamp":
		return kindTemporal
	case "enum":
		return kindEnum
	case "set":
		return kindSet
	case "bit":
		return kindBit
	case "json":
		return kindJSON
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		return kindText
	}
	return kindBytes
}

// errNoTargetTable: a row change arrived for a table the target lacks.
var errNoTargetTable = errors.New("table does not exist on the target")

// tableCache holds the syncTables of the current schema version; a DDL
// empties it.
type tableCache struct {
	byDst map[tableRef]*syncTable
	// groups: the target's cascading foreign-key groups (fk.go), read
	// with the first table after each reset
	groups map[tableRef]*fkGroup
	gen    int // counts resets
	// proj: target tables as written through source views (sync_view.go)
	proj map[[2]*syncTable]*syncTable
}

func newTableCache() *tableCache { return &tableCache{byDst: map[tableRef]*syncTable{}} }

func (c *tableCache) get(ctx context.Context, q querier, dst tableRef) (*syncTable, error) {
	if t, ok := c.byDst[dst]; ok {
		return t, nil
	}
	if c.groups == nil {
		edges, err := readForeignKeys(ctx, q, nil)
		if err != nil {
			return nil, fmt.Errorf("read the target's foreign keys: %w", err)
		}
		c.groups = fkGroups(edges)
	}
	t, err := readSyncTable(ctx, q, dst)
	if errors.Is(err, ErrTableNotFound) {
		return nil, fmt.Errorf("%s: %w", dst, errNoTargetTable)
	}
	if err != nil {
		return nil, err
	}
	if g := c.groups[dst]; g != nil {
		t.fkGroup = g.name
	}
	c.byDst[dst] = t
	return t, nil
}

func (c *tableCache) reset() { clear(c.byDst); clear(c.proj); c.groups = nil; c.gen++ }

// setHeads builds the INSERT and REPLACE heads of t's writable columns.
func (t *syncTable) setHeads() {
	var b strings.Builder
	b.WriteString(t.quoted)
	b.WriteString(" (")
	for i, c := range t.writable {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(t.cols[c].quoted)
	}
	b.WriteString(") VALUES ")
	t.insertHead = "INSERT INTO " + b.String()
	t.replaceHead = "REPLACE INTO " + b.String()
}
