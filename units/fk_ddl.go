package units

import (
	"fmt"
	"slices"
	"strings"
)

// targetName is the target name of a source table, and whether the task
// replicates it.
func (d *dumper) targetName(t tableRef) (tableRef, bool) {
	if slices.Contains(systemSchemas, strings.ToLower(t.Schema)) || !d.filter.Match(t.Schema, t.Name) {
		return t, false
	}
	db, tbl := d.router.Route(t.Schema, t.Name)
	return tableRef{db, tbl}, true
}

// retargetForeignKeys rewrites the foreign keys of a SHOW CREATE TABLE
// statement of a table in schema srcSchema for the target: each reference
// to a parent the task replicates becomes its routed name, fully
// qualified (the child may move to another schema); a key whose parent the
// task does not replicate is dropped — the target has no such table, and
// with foreign_key_checks=1 (fk.go) the key would refuse the child's rows.
// rename returns a parent's target name and whether it is replicated.
// dropped lists the constraints dropped.
func retargetForeignKeys(ddl, srcSchema string, rename func(tableRef) (tableRef, bool)) (out string, dropped []string, err error) {
	if !strings.Contains(ddl, "\n  CONSTRAINT ") {
		return ddl, nil, nil
	}
	c, ok := splitCreate(ddl)
	if !ok {
		return "", nil, fmt.Errorf("unexpected SHOW CREATE TABLE output: %.60q", ddl)
	}
	var defs []string
	for _, l := range c.defs {
		if !strings.HasPrefix(l, "  CONSTRAINT ") || !strings.Contains(l, " FOREIGN KEY (") {
			defs = append(defs, l)
			continue
		}
		name, ref, at, n, err := parseReference(l, srcSchema)
		if err != nil {
			return "", nil, err
		}
		to, ok := rename(ref)
		if !ok {
			dropped = append(dropped, name)
			continue
		}
		defs = append(defs, l[:at]+to.String()+l[at+n:])
	}
	c.defs = defs
	return c.String(), dropped, nil
}

// parseReference reads a SHOW CREATE TABLE constraint line
// "  CONSTRAINT `n` FOREIGN KEY (`a`, ...) REFERENCES [`db`.]`p` (`x`, ...) ...":
// the constraint's name, the parent table, and where its name is in l
// (at, n bytes).
func parseReference(l, srcSchema string) (name string, ref tableRef, at, n int, err error) {
	bad := func() (string, tableRef, int, int, error) {
		return "", tableRef{}, 0, 0, fmt.Errorf("unexpected foreign key definition in SHOW CREATE TABLE: %.80q", l)
	}
	i := len("  CONSTRAINT ")
	e := quotedIdentEnd(l[i:])
	if e < 0 {
		return bad()
	}
	name = unquoteIdent(l[i : i+e])
	i += e
	if !strings.HasPrefix(l[i:], " FOREIGN KEY (") {
		return bad()
	}
	i += len(" FOREIGN KEY (")
	for {
		e := quotedIdentEnd(l[i:])
		if e < 0 {
			return bad()
		}
		i += e
		if strings.HasPrefix(l[i:], ", ") {
			i += 2
			continue
		}
		if !strings.HasPrefix(l[i:], ") REFERENCES ") {
			return bad()
		}
		i += len(") REFERENCES ")
		break
	}
	at = i
	e = quotedIdentEnd(l[i:])
	if e < 0 {
		return bad()
	}
	first := unquoteIdent(l[i : i+e])
	i += e
	ref = tableRef{srcSchema, first}
	if strings.HasPrefix(l[i:], ".`") {
		e := quotedIdentEnd(l[i+1:])
		if e < 0 {
			return bad()
		}
		ref = tableRef{first, unquoteIdent(l[i+1 : i+1+e])}
		i += 1 + e
	}
	return name, ref, at, i - at, nil
}

// unquoteIdent undoes QuoteIdent.
func unquoteIdent(q string) string {
	return strings.ReplaceAll(q[1:len(q)-1], "``", "`")
}
