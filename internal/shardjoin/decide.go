package shardjoin

import (
	"fmt"
	"slices"
	"strings"
)

// Shard is one shard table's definition; Name is "source:db.table".
type Shard struct {
	Name  string
	Table Table
}

// Decision is what one shard's DDL means for the merged target table.
type Decision struct {
	// Touched are the parts of the table the DDL changed ("column:name",
	// "index:name", lower case): Clauses brings those to the join.
	Touched []string
	// Conflict says why the DDL cannot be applied on the joined schema
	// ("" when it can); With names the other shard it conflicts with.
	Conflict string
	With     string
}

// Decide compares a shard's definition before and after its DDL with
// the other shards' (every other shard of the target table, those that
// ran no DDL with the definition they started with).
//
// Compatible: adding a column that is nullable or has a default (or
// that the other shards have with a type one of the two holds), widening
// a column's type, adding or dropping an index, dropping a column no
// other shard has. Conflicting: dropping or renaming a column other shards
// still have, narrowing or otherwise changing a column other shards have,
// adding a NOT NULL column without a default that other shards lack, an
// index or a column the others have differently, a change of the table's
// options.
func Decide(before, after Table, others []Shard) Decision {
	var d Decision
	conflict := func(with, format string, args ...any) {
		if d.Conflict == "" {
			d.Conflict, d.With = fmt.Sprintf(format, args...), with
		}
	}
	having := func(name string, index bool) (out []Shard) {
		for _, o := range others {
			var ok bool
			if index {
				_, ok = o.Table.Index(name)
			} else {
				_, ok = o.Table.Column(name)
			}
			if ok {
				out = append(out, o)
			}
		}
		return out
	}
	var added, dropped []Column
	for _, ac := range after.Columns {
		if _, ok := before.Column(ac.Name); !ok {
			added = append(added, ac)
		}
	}
	for _, bc := range before.Columns {
		if _, ok := after.Column(bc.Name); !ok {
			dropped = append(dropped, bc)
		}
	}
	for _, bc := range dropped {
		d.Touched = append(d.Touched, "column:"+strings.ToLower(bc.Name))
		has := having(bc.Name, false)
		if len(has) == 0 {
			continue
		}
		if len(added) == 1 && len(dropped) == 1 && added[0].Def == bc.Def {
			conflict(has[0].Name, "renames column %s to %s, but shard %s still has %s", quote(bc.Name), quote(added[0].Name), has[0].Name, quote(bc.Name))
		}
		conflict(has[0].Name, "drops column %s, but shard %s still has it (its rows still write it)", quote(bc.Name), has[0].Name)
	}
	for _, ac := range after.Columns {
		bc, existed := before.Column(ac.Name)
		if existed && bc.Def == ac.Def {
			continue
		}
		d.Touched = append(d.Touched, "column:"+strings.ToLower(ac.Name))
		has := having(ac.Name, false)
		if !existed {
			if len(has) == 0 && len(others) > 0 && notNullNoDefault(ac.Def) {
				conflict(others[0].Name, "adds column %s NOT NULL without a default, which shard %s lacks: its rows could not be written to the target", quote(ac.Name), others[0].Name)
			}
			for _, o := range has {
				if oc, _ := o.Table.Column(ac.Name); !compatible(oc.Def, ac.Def) {
					conflict(o.Name, "adds column %s as %s, but shard %s has it as %s", quote(ac.Name), ac.Def, o.Name, oc.Def)
				}
			}
			continue
		}
		w, ok := wider(bc.Def, ac.Def)
		for _, o := range has {
			oc, _ := o.Table.Column(ac.Name)
			switch {
			case oc.Def == ac.Def:
			case ok && w == bc.Def:
				conflict(o.Name, "narrows column %s from %s to %s, but shard %s still has %s", quote(ac.Name), bc.Def, ac.Def, o.Name, oc.Def)
			case !ok:
				conflict(o.Name, "changes column %s from %s to %s, but shard %s still has %s", quote(ac.Name), bc.Def, ac.Def, o.Name, oc.Def)
			case !compatible(oc.Def, ac.Def):
				conflict(o.Name, "changes column %s to %s, which does not join with shard %s's %s", quote(ac.Name), ac.Def, o.Name, oc.Def)
			}
		}
	}
	for _, bx := range before.Indexes {
		if _, ok := after.Index(bx.Name); !ok {
			d.Touched = append(d.Touched, "index:"+strings.ToLower(bx.Name))
		}
	}
	for _, ax := range after.Indexes {
		bx, existed := before.Index(ax.Name)
		if existed && bx.Def == ax.Def {
			continue
		}
		d.Touched = append(d.Touched, "index:"+strings.ToLower(ax.Name))
		for _, o := range having(ax.Name, true) {
			if ox, _ := o.Table.Index(ax.Name); ox.Def != ax.Def {
				conflict(o.Name, "defines index %s as %s, but shard %s has %s", quote(ax.Name), ax.Def, o.Name, ox.Def)
			}
		}
	}
	if before.Options != after.Options {
		for _, o := range others {
			if o.Table.Options != after.Options {
				conflict(o.Name, "changes the table options from %q to %q, but shard %s has %q (optimistic mode does not carry table options to the target)", before.Options, after.Options, o.Name, o.Table.Options)
			}
		}
	}
	return d
}

func compatible(a, b string) bool { _, ok := wider(a, b); return ok }

// Join is the target table's schema for a set of shards: every column any
// shard has, at the widest definition (a column whose definitions do not
// join keeps the first), and every index any shard has. Columns and
// indexes come in the order of their first appearance; the options are
// the first shard's.
func Join(shards []Table) Table {
	var j Table
	for n, t := range shards {
		if n == 0 {
			j.Options = t.Options
		}
		for _, c := range t.Columns {
			i := slices.IndexFunc(j.Columns, func(x Column) bool { return strings.EqualFold(x.Name, c.Name) })
			if i < 0 {
				j.Columns = append(j.Columns, c)
			} else if w, ok := wider(j.Columns[i].Def, c.Def); ok {
				j.Columns[i].Def = w
			}
		}
		for _, x := range t.Indexes {
			if _, ok := j.Index(x.Name); !ok {
				j.Indexes = append(j.Indexes, x)
			}
		}
	}
	return j
}

// Clauses are the ALTER TABLE clauses that bring the target's touched
// columns and indexes to the join, each to run as a statement of its own
// (so one found applied already does not hold the others back).
func Clauses(target, joined Table, touched []string) []string {
	var out []string
	for _, k := range touched {
		kind, name, _ := strings.Cut(k, ":")
		if kind == "column" {
			jc, inJ := joined.Column(name)
			tc, inT := target.Column(name)
			switch {
			case inJ && !inT:
				out = append(out, "ADD COLUMN "+quote(jc.Name)+" "+jc.Def)
			case inJ && jc.Def != tc.Def:
				out = append(out, "MODIFY COLUMN "+quote(tc.Name)+" "+jc.Def)
			case !inJ && inT:
				out = append(out, "DROP COLUMN "+quote(tc.Name))
			}
			continue
		}
		jx, inJ := joined.Index(name)
		tx, inT := target.Index(name)
		switch {
		case inJ && !inT:
			out = append(out, "ADD "+jx.Def)
		case inJ && jx.Def != tx.Def:
			out = append(out, dropIndex(tx)+", ADD "+jx.Def)
		case !inJ && inT:
			out = append(out, dropIndex(tx))
		}
	}
	return slices.Compact(out)
}

func dropIndex(x Index) string {
	switch {
	case x.Name == "PRIMARY":
		return "DROP PRIMARY KEY"
	case strings.HasPrefix(x.Def, "CONSTRAINT") && strings.Contains(x.Def, "FOREIGN KEY"):
		return "DROP FOREIGN KEY " + quote(x.Name)
	case strings.HasPrefix(x.Def, "CONSTRAINT"):
		return "DROP CONSTRAINT " + quote(x.Name)
	}
	return "DROP INDEX " + quote(x.Name)
}

// DecideNew decides a shard table created while the task runs (a CREATE
// TABLE the route merges into an existing target table): its columns
// must join with the other shards', a column it adds must be nullable or
// have a default, and a column of the join it lacks must be too (its rows
// are written without it). Touched is every column and index it has.
func DecideNew(t Table, others []Shard) Decision {
	var d Decision
	conflict := func(with, format string, args ...any) {
		if d.Conflict == "" {
			d.Conflict, d.With = fmt.Sprintf(format, args...), with
		}
	}
	for _, c := range t.Columns {
		d.Touched = append(d.Touched, "column:"+strings.ToLower(c.Name))
		found := false
		for _, o := range others {
			oc, ok := o.Table.Column(c.Name)
			if !ok {
				continue
			}
			found = true
			if !compatible(oc.Def, c.Def) {
				conflict(o.Name, "has column %s as %s, but shard %s has it as %s", quote(c.Name), c.Def, o.Name, oc.Def)
			}
		}
		if !found && len(others) > 0 && notNullNoDefault(c.Def) {
			conflict(others[0].Name, "has column %s NOT NULL without a default, which shard %s lacks: its rows could not be written to the target", quote(c.Name), others[0].Name)
		}
	}
	for _, o := range others {
		for _, oc := range o.Table.Columns {
			if _, ok := t.Column(oc.Name); !ok && notNullNoDefault(oc.Def) {
				conflict(o.Name, "lacks column %s, which shard %s has NOT NULL without a default: the new shard's rows could not be written to the target", quote(oc.Name), o.Name)
			}
		}
	}
	for _, x := range t.Indexes {
		d.Touched = append(d.Touched, "index:"+strings.ToLower(x.Name))
		for _, o := range others {
			if ox, ok := o.Table.Index(x.Name); ok && ox.Def != x.Def {
				conflict(o.Name, "defines index %s as %s, but shard %s has %s", quote(x.Name), x.Def, o.Name, ox.Def)
			}
		}
	}
	return d
}
