package ddl

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Table is a schema-qualified table name.
type Table struct{ Schema, Name string }

// String quotes the name as `schema`.`name`.
func (t Table) String() string { return QuoteIdent(t.Schema) + "." + QuoteIdent(t.Name) }

// QuoteIdent quotes a name with backquotes.
func QuoteIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// Route is where the changes of a source table go.
type Route struct {
	Skip   bool  // the table is not replicated
	To     Table // the target table
	Merged bool  // the route merges several source tables into To
}

// Resolver answers what the task replicates.
type Resolver interface {
	// Route routes a source table (system schemas included: they are
	// never replicated).
	Route(schema, table string) Route
	// Replicates reports whether a database's own statements (CREATE,
	// ALTER, DROP DATABASE) are replicated.
	Replicates(schema string) bool
}

// NameStorer is implemented by a Resolver whose source stores names in
// another spelling than a statement may use: with lower_case_table_names=1
// `CREATE TABLE Shop.Orders` creates shop.orders. The planner then routes
// the stored names, and a name spelt otherwise is rewritten to its target
// (quoted) in the statement.
type NameStorer interface {
	StoredName(name string) string
}

func storedName(r Resolver, name string) string {
	if n, ok := r.(NameStorer); ok {
		return n.StoredName(name)
	}
	return name
}

// Plan is what a source statement becomes on the target.
type Plan struct {
	Kind   string   // e.g. "ALTER TABLE", for logs
	Stmt   string   // the statement to run: the source's text, table names routed
	UseDB  string   // the database it runs in (the source session's)
	Pre    []string // statements to run first (CREATE DATABASE IF NOT EXISTS for a routed table)
	Tables []Table  // the target tables it touches
	DBs    []string // the databases it creates, alters or drops
	Src    []Table  // the source tables, for load windows
	// Refuse: the statement changes a merged shard table in a way the
	// target cannot follow (the target table holds the other shards'
	// rows too); it says what to do. The sync unit stops on it unless
	// spec.filters drop the statement.
	Refuse string
}

// sql_mode flags that change how a statement is read.
const (
	ModeANSIQuotes         = 1 << 2
	ModeNoBackslashEscapes = 1 << 20
)

// PlanStatement decides what a statement of the binlog, run in schema
// under sqlMode, becomes on the target; nil when it is not replicated
// (users, grants, views, routines, triggers, SET, FLUSH, ANALYZE,
// temporary tables, tables outside the filter). An error means the
// statement touches replicated tables in a way dmplan cannot carry out
// exactly, or that dmplan cannot read it (an unterminated quote or
// comment) and it is not of a kind skippedKind recognises as never
// replicated; it says what to do.
func PlanStatement(r Resolver, schema, query string, sqlMode uint64) (*Plan, error) {
	toks, err := lex(query, sqlMode&ModeANSIQuotes != 0, sqlMode&ModeNoBackslashEscapes != 0)
	if err != nil {
		kind, skipped := skippedKind(query)
		if skipped {
			return nil, nil // a kind dmplan never replicates (an unterminated password, say)
		}
		if kind == "" {
			kind = "statement"
		}
		return nil, fmt.Errorf("%s: dmplan cannot read it (%v); if it touches replicated tables apply it to the target by hand, "+
			"then restart the task from a position after it", kind, err)
	}
	schema = storedName(r, schema)
	b := &builder{r: r, schema: schema, query: query, t: &tokStream{toks: toks}, plan: &Plan{UseDB: schema}}
	return b.build()
}

type builder struct {
	r      Resolver
	schema string
	query  string
	t      *tokStream
	plan   *Plan
	edits  []edit
}

// edit replaces query[start:end] by text.
type edit struct {
	start, end int
	text       string
}

// resolve routes a table name of the statement; for a replicated table it
// records the target table and, when the name changes, an edit.
func (b *builder) resolve(n nameRef) (Table, Route) {
	db := n.db
	if db == "" {
		db = b.schema
	}
	written := Table{db, n.table}
	src := Table{storedName(b.r, db), storedName(b.r, n.table)}
	r := b.r.Route(src.Schema, src.Name)
	if r.Skip {
		return src, r
	}
	b.plan.Src = append(b.plan.Src, src)
	b.plan.Tables = append(b.plan.Tables, r.To)
	if r.To != written {
		b.edits = append(b.edits, edit{n.start, n.end, r.To.String()})
	}
	return src, r
}

// renameRefusal: a rename moves a table into or out of a merged table.
func renameRefusal(from, to Table, ro, rn Route) string {
	m, what := ro.To, "out of"
	if rn.Merged {
		m, what = rn.To, "into"
	}
	return fmt.Sprintf("RENAME of %s to %s moves a shard table %s the merged table %s: the target table holds every shard's rows, and renaming it would move them all; "+
		"make the route match both names (the shard stays in the merge), or let sync pass the statement with a spec.filters rule (events: [rename table] or [alter table], action: ignore) "+
		"and copy the table's rows where they belong by hand", from, to, what, m)
}

func (b *builder) dbMatch(db string) bool {
	if db == "" {
		db = b.schema
	}
	return db != "" && b.r.Replicates(db)
}

func (b *builder) unsupported(what string) error {
	return fmt.Errorf("%s: dmplan cannot read %s; if it touches replicated tables apply it to the target by hand, "+
		"then restart the task from a position after it", b.plan.Kind, what)
}

func (b *builder) build() (*Plan, error) {
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
		b.plan.Kind = "RENAME TABLE"
		err = b.renameTables()
	case "TRUNCATE":
		t.word("TABLE")
		b.plan.Kind = "TRUNCATE TABLE"
		n, ok := t.name()
		if !ok {
			return nil, b.unsupported("the table name")
		}
		src, r := b.resolve(n)
		if r.Skip {
			return nil, nil
		}
		if r.Merged {
			// The merged table holds the other shards' rows too.
			b.plan.Refuse = fmt.Sprintf("TRUNCATE TABLE of %s, a shard of the merged table %s: the target holds the other shards' rows too, and dmplan cannot tell this shard's apart; "+
				"delete the shard's rows on the target by hand if they must go, and let sync pass the statement with a spec.filters rule (events: [truncate table], action: ignore) on the shard", src, r.To)
		}
	case "INSERT", "REPLACE", "UPDATE", "DELETE", "LOAD":
		return nil, b.dml()
	default:
		return nil, nil
	}
	if err != nil || b.plan.Kind == "" || len(b.plan.Tables) == 0 && len(b.plan.DBs) == 0 {
		return nil, err
	}
	b.plan.Stmt = b.apply()
	return b.plan, nil
}

func (b *builder) create() error {
	t := b.t
	orReplace := t.words("OR", "REPLACE")
	switch w := t.next().upper(); w {
	case "TABLE":
		b.plan.Kind = "CREATE TABLE"
		tableTok := t.toks[t.i-1]
		ifNotExists := t.words("IF", "NOT", "EXISTS")
		n, ok := t.name()
		if !ok {
			return b.unsupported("the table name")
		}
		src, r := b.resolve(n)
		if r.Skip {
			return nil
		}
		t.punct("(")
		if t.word("LIKE") {
			ref, ok := t.name()
			if !ok {
				return b.unsupported("the LIKE table")
			}
			if from, rr := b.resolve(ref); rr.Skip {
				return fmt.Errorf("CREATE TABLE %s LIKE %s: the table it copies is not replicated; include it in the task's tables", src, from)
			}
		}
		if r.Merged && (orReplace || !ifNotExists) {
			// Several shards create the one target table: create it once, never replace it.
			start, text := tableTok.start, "TABLE"
			if orReplace {
				start = t.toks[1].start
			}
			if !ifNotExists {
				text += " IF NOT EXISTS"
			}
			b.edits = append(b.edits, edit{start, tableTok.end, text})
		}
		if r.To.Schema != src.Schema {
			b.plan.Pre = append(b.plan.Pre, "CREATE DATABASE IF NOT EXISTS "+QuoteIdent(r.To.Schema))
		}
	case "TEMPORARY":
		return nil
	case "UNIQUE", "FULLTEXT", "SPATIAL", "INDEX":
		if w != "INDEX" && !t.word("INDEX") {
			return nil
		}
		b.plan.Kind = "CREATE INDEX"
		return b.indexOn("IF", "NOT", "EXISTS")
	case "DATABASE", "SCHEMA":
		b.plan.Kind = "CREATE DATABASE"
		t.words("IF", "NOT", "EXISTS")
		return b.database()
	}
	return nil
}

func (b *builder) alter() error {
	t := b.t
	t.word("ONLINE")
	t.word("IGNORE")
	switch t.next().upper() {
	case "TABLE":
		b.plan.Kind = "ALTER TABLE"
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
				if r.Skip != nr.Skip {
					return fmt.Errorf("ALTER TABLE %s RENAME TO %s moves a table across the task's table filter; include both names or neither", src, to)
				}
				if (r.Merged || nr.Merged) && r.To != nr.To {
					b.plan.Refuse = renameRefusal(src, to, r, nr)
				}
			}
		}
		if r.Skip {
			b.plan.Kind = ""
		}
	case "DATABASE", "SCHEMA":
		b.plan.Kind = "ALTER DATABASE"
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
			b.plan.DBs = []string{b.schema}
		}
	}
	return nil
}

func (b *builder) drop() error {
	t := b.t
	switch t.next().upper() {
	case "TABLE", "TABLES":
		b.plan.Kind = "DROP TABLE"
		t.words("IF", "EXISTS")
		return b.dropTables()
	case "INDEX":
		b.plan.Kind = "DROP INDEX"
		return b.indexOn("IF", "EXISTS")
	case "DATABASE", "SCHEMA":
		b.plan.Kind = "DROP DATABASE"
		t.words("IF", "EXISTS")
		return b.database()
	}
	return nil // DROP TEMPORARY TABLE, VIEW, USER, ...
}

// database reads the database name of a database statement.
func (b *builder) database() error {
	tok := b.t.next()
	if tok.kind != tokWord && tok.kind != tokIdent {
		return b.unsupported("the database name")
	}
	if db := storedName(b.r, tok.text); b.dbMatch(db) {
		b.plan.DBs = []string{db}
		b.plan.UseDB = ""
		if db != tok.text {
			b.edits = append(b.edits, edit{tok.start, tok.end, QuoteIdent(db)})
		}
	}
	return nil
}

// indexOn reads "[IF [NOT] EXISTS] name [USING type] ON table".
func (b *builder) indexOn(ifWords ...string) error {
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
func (b *builder) dropTables() error {
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
		case r.Skip:
			changed = true
		case r.Merged:
			changed = true
			b.plan.Tables = slices.DeleteFunc(b.plan.Tables, func(x Table) bool { return x == r.To })
		default:
			keep = append(keep, r.To.String())
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
func (b *builder) keepList(first, last int, keep []string, changed bool) {
	if len(keep) == 0 {
		b.plan.Kind = ""
		return
	}
	if changed || len(b.edits) > 0 {
		b.edits = []edit{{first, last, strings.Join(keep, ", ")}}
	}
}

// renameTables reads "a TO b [, c TO d ...]".
func (b *builder) renameTables() error {
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
		case ro.Skip && rn.Skip:
			changed = true
		case ro.Skip != rn.Skip:
			return fmt.Errorf("RENAME TABLE %s TO %s moves a table across the task's table filter; include both names or neither", from, to)
		case ro.To == rn.To:
			changed = true // both names route to one merged table
		case ro.Merged || rn.Merged:
			b.plan.Refuse = renameRefusal(from, to, ro, rn)
			keep = append(keep, ro.To.String()+" TO "+rn.To.String())
		default:
			keep = append(keep, ro.To.String()+" TO "+rn.To.String())
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
// RecopyAdvice says how to go on past a change of table t that sync
// cannot apply exactly (it stopped before it): leave the table out, so
// that sync passes the change, and select it again, so that it is copied
// again (docs/units.md, "Fresh starts and filter changes").
func RecopyAdvice(t Table) string {
	return fmt.Sprintf("to go on, leave %s out of spec.tables and apply, then select it again and apply: "+
		"modes all and full copy it again from a new snapshot; mode incremental copies nothing, "+
		"so make the target's table equal yourself (dmplan verify TASK --fix-sql FILE writes the statements)", t)
}

func (b *builder) dml() error {
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
	if !b.r.Route(db, n.table).Skip {
		t := Table{db, n.table}
		return fmt.Errorf("a statement-based change of %s is in the binlog, which dmplan cannot apply exactly: set binlog_format=ROW on the source (and in every session); %s",
			t, RecopyAdvice(t))
	}
	return nil
}

// apply returns the statement with its edits made.
func (b *builder) apply() string {
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
