package units

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Foreign keys with cascading actions (ON DELETE/UPDATE CASCADE, SET NULL,
// SET DEFAULT) change child rows inside the storage engine: those changes
// never reach the binlog. The target reproduces them only if it carries the
// same foreign keys and applies the parent's change with
// foreign_key_checks=1, in the source's order relative to the children's
// own changes. So (docs/units.md, "Foreign keys"):
//
//   - load creates target tables with their foreign keys, references
//     renamed by the routes (schema.go, retargetCreate);
//   - sync puts the tables of the target that foreign keys link, when one
//     of the keys cascades, into one group applied by one worker in binlog
//     order, one statement per change, with foreign_key_checks=1;
//   - a cascading foreign key of a selected source table that the target
//     lacks is a precheck failure (and stops sync at its start), unless
//     the task accepts losing that table's cascades (Config.AcceptLostCascades).

// fkEdge is one foreign key: child columns reference parent columns.
type fkEdge struct {
	name             string
	child, parent    tableRef
	cols, refCols    []string
	onDelete, onUpdt string // "CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT", "NO ACTION"
}

// cascades reports whether the key changes child rows by itself.
func (e *fkEdge) cascades() bool { return cascadingRule(e.onDelete) || cascadingRule(e.onUpdt) }

func cascadingRule(r string) bool { return r == "CASCADE" || r == "SET NULL" || r == "SET DEFAULT" }

// String describes the key for messages.
func (e *fkEdge) String() string {
	return fmt.Sprintf("foreign key %s of %s (%s) -> %s (%s) ON DELETE %s ON UPDATE %s", QuoteIdent(e.name),
		e.child, strings.Join(e.cols, ", "), e.parent, strings.Join(e.refCols, ", "), e.onDelete, e.onUpdt)
}

// sameAs reports whether e, renamed by rename, is the key o: the same
// tables, columns and actions (the constraint name may differ).
func (e *fkEdge) sameAs(o *fkEdge, rename func(tableRef) tableRef) bool {
	return rename(e.child) == o.child && rename(e.parent) == o.parent &&
		slices.Equal(e.cols, o.cols) && slices.Equal(e.refCols, o.refCols) &&
		e.onDelete == o.onDelete && e.onUpdt == o.onUpdt
}

// readForeignKeys reads every foreign key whose child table is in one of
// schemas (every schema but the system ones when schemas is nil).
// Names are compared exactly (BINARY), as lower_case_table_names=0 needs.
func readForeignKeys(ctx context.Context, q querier, schemas []string) ([]fkEdge, error) {
	query := `SELECT rc.CONSTRAINT_SCHEMA, rc.CONSTRAINT_NAME, rc.TABLE_NAME, rc.UNIQUE_CONSTRAINT_SCHEMA,
			rc.REFERENCED_TABLE_NAME, rc.DELETE_RULE, rc.UPDATE_RULE, k.COLUMN_NAME, k.REFERENCED_COLUMN_NAME
		FROM information_schema.REFERENTIAL_CONSTRAINTS rc
		JOIN information_schema.KEY_COLUMN_USAGE k ON BINARY k.CONSTRAINT_SCHEMA = BINARY rc.CONSTRAINT_SCHEMA
			AND BINARY k.CONSTRAINT_NAME = BINARY rc.CONSTRAINT_NAME AND BINARY k.TABLE_NAME = BINARY rc.TABLE_NAME
		WHERE k.REFERENCED_TABLE_NAME IS NOT NULL`
	var args []any
	if schemas != nil {
		if len(schemas) == 0 {
			return nil, nil
		}
		// Both sides filtered: information_schema then opens only the
		// tables of those schemas.
		in := " IN (?" + strings.Repeat(",?", len(schemas)-1) + ")"
		query += " AND rc.CONSTRAINT_SCHEMA" + in + " AND k.CONSTRAINT_SCHEMA" + in
		for range 2 {
			for _, s := range schemas {
				args = append(args, s)
			}
		}
	}
	query += " ORDER BY rc.CONSTRAINT_SCHEMA, rc.TABLE_NAME, rc.CONSTRAINT_NAME, k.ORDINAL_POSITION"
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read foreign keys: %w", err)
	}
	defer rows.Close()
	var out []fkEdge
	for rows.Next() {
		var e fkEdge
		var col, ref string
		if err := rows.Scan(&e.child.Schema, &e.name, &e.child.Name, &e.parent.Schema, &e.parent.Name,
			&e.onDelete, &e.onUpdt, &col, &ref); err != nil {
			return nil, fmt.Errorf("read foreign keys: %w", err)
		}
		if slices.Contains(systemSchemas, strings.ToLower(e.child.Schema)) {
			continue
		}
		if n := len(out); n > 0 && out[n-1].child == e.child && out[n-1].name == e.name {
			out[n-1].cols = append(out[n-1].cols, col)
			out[n-1].refCols = append(out[n-1].refCols, ref)
			continue
		}
		e.cols, e.refCols = []string{col}, []string{ref}
		e.onDelete, e.onUpdt = strings.ToUpper(e.onDelete), strings.ToUpper(e.onUpdt)
		out = append(out, e)
	}
	return out, rows.Err()
}

// fkGroup is a set of tables linked by foreign keys, one of which cascades.
type fkGroup struct {
	name string // the smallest member, `db`.`table`: names the group in routing
}

// fkGroups puts every table that a foreign key links, directly or not, to
// a table with a cascading key into one group. Tables linked only by keys
// that do not cascade get no group: their rows are applied in parallel with
// foreign_key_checks=0, as the source already enforced the keys.
func fkGroups(edges []fkEdge) map[tableRef]*fkGroup {
	parent := map[tableRef]tableRef{}
	var find func(t tableRef) tableRef
	find = func(t tableRef) tableRef {
		p, ok := parent[t]
		if !ok || p == t {
			parent[t] = t
			return t
		}
		r := find(p)
		parent[t] = r
		return r
	}
	for _, e := range edges {
		a, b := find(e.child), find(e.parent)
		if a != b {
			parent[a] = b
		}
	}
	cascading := map[tableRef]bool{}
	for _, e := range edges {
		if e.cascades() {
			cascading[find(e.child)] = true
		}
	}
	groups := map[tableRef]*fkGroup{}
	out := map[tableRef]*fkGroup{}
	for t := range parent {
		root := find(t)
		if !cascading[root] {
			continue
		}
		g := groups[root]
		if g == nil {
			g = &fkGroup{name: t.String()}
			groups[root] = g
		}
		if n := t.String(); n < g.name {
			g.name = n
		}
		out[t] = g
	}
	return out
}

// cascadeProblems lists the cascading foreign keys of the source tables the
// filter selects that the target cannot reproduce: the parent is not
// selected, or the target's child table (when it exists) lacks the key
// under the routed names. exists reports whether a target table exists;
// accepted reports whether the task accepts losing a child's cascades.
func cascadeProblems(src, dst []fkEdge, selected func(tableRef) bool, route func(tableRef) tableRef,
	exists func(tableRef) bool, accepted func(tableRef) bool) []string {
	var out []string
	for i := range src {
		e := &src[i]
		if !e.cascades() || !selected(e.child) || accepted(e.child) {
			continue
		}
		if !selected(e.parent) {
			out = append(out, fmt.Sprintf("%s: the task does not replicate %s, so the rows of %s its changes cascade to would diverge", e, e.parent, e.child))
			continue
		}
		child := route(e.child)
		if !exists(child) {
			continue // the load creates it with the key
		}
		found := false
		for j := range dst {
			if e.sameAs(&dst[j], route) {
				found = true
				break
			}
		}
		if !found {
			out = append(out, fmt.Sprintf("%s: the target table %s has no such foreign key to %s, so the rows of %s its changes cascade to would diverge",
				e, child, route(e.parent), child))
		}
	}
	return out
}

// cascadeFix says what to do about cascadeProblems.
const cascadeFix = "add the same foreign key to the target table (or drop it and let the load create it), " +
	"select the parent table too, or accept the loss with spec.acceptLostCascades in the task"
