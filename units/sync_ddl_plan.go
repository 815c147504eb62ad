package units

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// ddlPlan is what a source statement becomes on the target.
type ddlPlan struct {
	kind   string   // e.g. "ALTER TABLE", for logs
	stmt   string   // the statement to run: the source's text, table names routed
	useDB  string   // the database it runs in (the source session's)
	pre    []string // statements to run first (CREATE DATABASE IF NOT EXISTS for a routed table)
	tables []tableRef
	dbs    []string
	src    []tableRef // the source tables, for load windows
}

const sqlModeNoBackslashEscapes = 1 << 20

// planStatement decides what a statement of the binlog becomes on the
// target; nil when it is not replicated (users, grants, views, routines,
// triggers, SET, FLUSH, ANALYZE, temporary tables, tables outside the
// filter).
func (s *syncer) planStatement(schema, query string, mode uint64) (*ddlPlan, error) {
	toks, err := lexSQL(query, mode&sqlModeANSIQuotes != 0, mode&sqlModeNoBackslashEscapes != 0)
	if err != nil {
		return nil, nil // not a statement dmplan replicates can be unterminated
	}
	b := &ddlBuilder{s: s, schema: schema, query: query, t: &tokStream{toks: toks}, plan: &ddlPlan{useDB: schema}}
	return b.build()
}

type ddlBuilder struct {
	s      *syncer
	schema string
	query  string
	t      *tokStream
	plan   *ddlPlan
	edits  []ddlEdit
}

// ddlEdit replaces query[start:end] by text.
type ddlEdit struct {
	start, end int
	text       string
}

// resolve routes a table name of the statement; for a replicated table it
// records the target table and, when the name changes, an edit.
func (b *ddlBuilder) resolve(n nameRef) (tableRef, *srcRoute) {
	db := n.db
	if db == "" {
		db = b.schema
	}
	src := tableRef{db, n.table}
	r := b.s.route(db, n.table)
	if r.skip {
		return src, r
	}
	b.plan.src = append(b.plan.src, src)
	b.plan.tables = append(b.plan.tables, r.dst)
	if r.dst != src {
		b.edits = append(b.edits, ddlEdit{n.start, n.end, r.dst.String()})
	}
	return src, r
}

func (b *ddlBuilder) dbMatch(db string) bool {
	if db == "" {
		db = b.schema
	}
	return db != "" && !slices.Contains(systemSchemas, strings.ToLower(db)) && b.s.filter.MatchSchema(db)
}

func (b *ddlBuilder) unsupported(what string) error {
	return Permanent(fmt.Errorf("%s: dmplan cannot read %s; if it touches replicated tables apply it to the target by hand, "+
		"then restart the task from a position after it", b.plan.kind, what))
}

func (b *ddlBuilder) build() (*ddlPlan, error) {
	t := b.t
	var err error
	switch t.next().upper() {
	case "CREATE":
		err = b.create()
	case "ALTER":
		err = b.alter()
	case "DROP":
		err = b.drop()
	case "RENAME":
		if !t.word("TABLE") && !t.word("TABLES") {
			return nil, nil
		}
		b.plan.kind = "RENAME TABLE"
		err = b.renameTables()
	case "TRUNCATE":
		t.word("TABLE")
		b.plan.kind = "TRUNCATE TABLE"
		n, ok := t.name()
		if !ok {
			return nil, b.unsupported("the table name")
		}
		if _, r := b.resolve(n); r.skip || r.merged {
			return nil, nil // a merged table holds other shards' rows too
		}
	case "INSERT", "REPLACE", "UPDATE", "DELETE", "LOAD":
		return nil, b.dml()
	default:
		return nil, nil
	}
	if err != nil || b.plan.kind == "" || len(b.plan.tables) == 0 && len(b.plan.dbs) == 0 {
		return nil, err
	}
	b.plan.stmt = b.apply()
	return b.plan, nil
}

func (b *ddlBuilder) create() error {
	t := b.t
	orReplace := t.words("OR", "REPLACE")
	switch w := t.next().upper(); w {
	case "TABLE":
		b.plan.kind = "CREATE TABLE"
		tableTok := t.toks[t.i-1]
		ifNotExists := t.words("IF", "NOT", "EXISTS")
		n, ok := t.name()
		if !ok {
			return b.unsupported("the table name")
		}
		src, r := b.resolve(n)
		if r.skip {
			return nil
		}
		t.punct("(")
		if t.word("LIKE") {
			ref, ok := t.name()
			if !ok {
				return b.unsupported("the LIKE table")
			}
			if from, rr := b.resolve(ref); rr.skip {
				return Permanent(fmt.Errorf("CREATE TABLE %s LIKE %s: the table it copies is not replicated; include it in the task's tables", src, from))
			}
		}
		if r.merged && (orReplace || !ifNotExists) {
			// Several shards create the one target table: create it once, never replace it.
			start, text := tableTok.start, "TABLE"
			if orReplace {
				start = t.toks[1].start
			}
			if !ifNotExists {
				text += " IF NOT EXISTS"
			}
			b.edits = append(b.edits, ddlEdit{start, tableTok.end, text})
		}
		if r.dst.Schema != src.Schema {
			b.plan.pre = append(b.plan.pre, "CREATE DATABASE IF NOT EXISTS "+QuoteIdent(r.dst.Schema))
		}
	case "TEMPORARY":
		return nil
	case "UNIQUE", "FULLTEXT", "SPATIAL", "INDEX":
		if w != "INDEX" && !t.word("INDEX") {
			return nil
		}
		b.plan.kind = "CREATE INDEX"
		return b.indexOn("IF", "NOT", "EXISTS")
	case "DATABASE", "SCHEMA":
		b.plan.kind = "CREATE DATABASE"
		t.words("IF", "NOT", "EXISTS")
		return b.database()
	}
	return nil
}

func (b *ddlBuilder) alter() error {
	t := b.t
	t.word("ONLINE")
	t.word("IGNORE")
	switch t.next().upper() {
	case "TABLE":
		b.plan.kind = "ALTER TABLE"
		t.words("IF", "EXISTS")
		n, ok := t.name()
		if !ok {
			return b.unsupported("the table name")
		}
		src, r := b.resolve(n)
		// ALTER TABLE ... RENAME [TO|AS] new, at the top level of the clauses.
		depth := 0
		for t.i < len(t.toks) {
			tok := t.next()
			switch {
			case tok.kind == tokPunct && tok.text == "(":
				depth++
			case tok.kind == tokPunct && tok.text == ")":
				depth--
			case depth == 0 && tok.upper() == "RENAME":
				switch t.peek().upper() {
				case "COLUMN", "INDEX", "KEY", "CONSTRAINT":
					continue
				}
				if !t.word("TO") {
					t.word("AS")
				}
				nn, ok := t.name()
				if !ok {
					return b.unsupported("the new table name")
				}
				// An unqualified new name is in the session's database, as in MySQL.
				to, nr := b.resolve(nn)
				if r.skip != nr.skip {
					return Permanent(fmt.Errorf("ALTER TABLE %s RENAME TO %s moves a table across the task's table filter; include both names or neither", src, to))
				}
			}
		}
		if r.skip {
			b.plan.kind = ""
		}
	case "DATABASE", "SCHEMA":
		b.plan.kind = "ALTER DATABASE"
		switch p := t.peek(); {
		case p.kind == tokIdent:
			return b.database()
		case p.kind == tokWord:
			switch p.upper() {
			case "DEFAULT", "CHARACTER", "CHARSET", "COLLATE", "COMMENT", "READ", "ENCRYPTION", "UPGRADE":
			default:
				return b.database()
			}
		}
		if b.dbMatch("") {
			b.plan.dbs = []string{b.schema}
		}
	}
	return nil
}

func (b *ddlBuilder) drop() error {
	t := b.t
	switch t.next().upper() {
	case "TABLE", "TABLES":
		b.plan.kind = "DROP TABLE"
		t.words("IF", "EXISTS")
		return b.dropTables()
	case "INDEX":
		b.plan.kind = "DROP INDEX"
		return b.indexOn("IF", "EXISTS")
	case "DATABASE", "SCHEMA":
		b.plan.kind = "DROP DATABASE"
		t.words("IF", "EXISTS")
		return b.database()
	}
	return nil // DROP TEMPORARY TABLE, VIEW, USER, ...
}

// database reads the database name of a database statement.
func (b *ddlBuilder) database() error {
	tok := b.t.next()
	if tok.kind != tokWord && tok.kind != tokIdent {
		return b.unsupported("the database name")
	}
	if b.dbMatch(tok.text) {
		b.plan.dbs = []string{tok.text}
		b.plan.useDB = ""
	}
	return nil
}

// indexOn reads "[IF [NOT] EXISTS] name [USING type] ON table".
func (b *ddlBuilder) indexOn(ifWords ...string) error {
	t := b.t
	t.words(ifWords...)
	if _, ok := t.name(); !ok {
		return b.unsupported("the index name")
	}
	if t.word("USING") {
		t.next()
	}
	if !t.word("ON") {
		return b.unsupported("the table name")
	}
	n, ok := t.name()
	if !ok {
		return b.unsupported("the table name")
	}
	b.resolve(n)
	return nil
}

// dropTables reads "t1 [, t2 ...]": tables outside the filter, and merged
// tables (other shards still write to them), are left out.
func (b *ddlBuilder) dropTables() error {
	t := b.t
	var keep []string
	first, last := -1, -1
	changed := false
	for {
		n, ok := t.name()
		if !ok {
			return b.unsupported("the table names")
		}
		if first < 0 {
			first = n.start
		}
		last = n.end
		_, r := b.resolve(n)
		switch {
		case r.skip:
			changed = true
		case r.merged:
			changed = true
			b.plan.tables = slices.DeleteFunc(b.plan.tables, func(x tableRef) bool { return x == r.dst })
		default:
			keep = append(keep, r.dst.String())
		}
		if !t.punct(",") {
			break
		}
	}
	b.keepList(first, last, keep, changed)
	return nil
}

// keepList ends a statement that names a list of tables: with none left
// (all filtered out or merged away) the statement is skipped; otherwise,
// when a name was dropped or rewritten, the list from first to last is
// replaced by the kept, routed names.
func (b *ddlBuilder) keepList(first, last int, keep []string, changed bool) {
	if len(keep) == 0 {
		b.plan.kind = ""
		return
	}
	if changed || len(b.edits) > 0 {
		b.edits = []ddlEdit{{first, last, strings.Join(keep, ", ")}}
	}
}

// renameTables reads "a TO b [, c TO d ...]".
func (b *ddlBuilder) renameTables() error {
	t := b.t
	t.words("IF", "EXISTS")
	var keep []string
	first, last := -1, -1
	changed := false
	for {
		o, ok := t.name()
		if !ok || !t.word("TO") {
			return b.unsupported("the table names")
		}
		n, ok := t.name()
		if !ok {
			return b.unsupported("the table names")
		}
		if first < 0 {
			first = o.start
		}
		last = n.end
		from, ro := b.resolve(o)
		to, rn := b.resolve(n)
		switch {
		case ro.skip && rn.skip:
			changed = true
		case ro.skip != rn.skip:
			return Permanent(fmt.Errorf("RENAME TABLE %s TO %s moves a table across the task's table filter; include both names or neither", from, to))
		case ro.dst == rn.dst:
			changed = true // both names route to one merged table
		default:
			keep = append(keep, ro.dst.String()+" TO "+rn.dst.String())
		}
		if !t.punct(",") {
			break
		}
	}
	b.keepList(first, last, keep, changed)
	return nil
}

// dml handles a statement-based row change: an error when it writes a
// replicated table (its rows never reach the binlog as row events).
func (b *ddlBuilder) dml() error {
	t := b.t
	switch t.toks[0].upper() {
	case "UPDATE":
		t.word("LOW_PRIORITY")
		t.word("IGNORE")
	case "INSERT", "REPLACE":
		for t.word("LOW_PRIORITY") || t.word("DELAYED") || t.word("HIGH_PRIORITY") || t.word("IGNORE") {
		}
		t.word("INTO")
	case "DELETE", "LOAD":
		want := "FROM"
		if t.toks[0].upper() == "LOAD" {
			want = "INTO"
		}
		for t.i < len(t.toks) && t.peek().upper() != want {
			t.i++
		}
		if !t.word(want) {
			return nil
		}
		t.word("TABLE")
	}
	n, ok := t.name()
	if !ok {
		return nil
	}
	db := n.db
	if db == "" {
		db = b.schema
	}
	if !b.s.route(db, n.table).skip {
		return Permanent(fmt.Errorf("a statement-based change of %s is in the binlog: set binlog_format=ROW on the source (and in every session)",
			QuoteTable(db, n.table)))
	}
	return nil
}

// apply returns the statement with its edits made.
func (b *ddlBuilder) apply() string {
	if len(b.edits) == 0 {
		return b.query
	}
	sort.Slice(b.edits, func(i, j int) bool { return b.edits[i].start > b.edits[j].start })
	q := b.query
	for _, e := range b.edits {
		q = q[:e.start] + e.text + q[e.end:]
	}
	return q
}
