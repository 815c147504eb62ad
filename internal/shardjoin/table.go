package shardjoin

import (
	"fmt"
	"slices"
	"strings"
)

// Table is a table's definition: its columns and indexes in order, and
// its options.
type Table struct {
	Columns []Column `json:"columns"`
	Indexes []Index  `json:"indexes,omitempty"`
	Options string   `json:"options,omitempty"` // what follows the closing parenthesis
}

// Column is one column: its name and its definition after the name, as
// SHOW CREATE TABLE prints it ("varchar(20) DEFAULT NULL").
type Column struct {
	Name string `json:"name"`
	Def  string `json:"def"`
}

// Index is an index or constraint: its name ("PRIMARY" for the primary
// key) and its whole line ("UNIQUE KEY `u` (`a`,`b`)").
type Index struct {
	Name string `json:"name"`
	Def  string `json:"def"`
}

// Parse reads the text of SHOW CREATE TABLE.
func Parse(create string) (Table, error) {
	var t Table
	open := strings.Index(create, "(\n")
	end := strings.LastIndex(create, "\n)")
	if open < 0 || end < open {
		return t, fmt.Errorf("read a table definition: not the text of SHOW CREATE TABLE")
	}
	t.Options = strings.TrimSpace(create[end+2:])
	for line := range strings.SplitSeq(create[open+2:end], "\n") {
		line = strings.TrimSuffix(strings.TrimSpace(line), ",")
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "`") {
			name, rest, ok := ident(line)
			if !ok {
				return t, fmt.Errorf("read a table definition: column line %q", line)
			}
			t.Columns = append(t.Columns, Column{Name: name, Def: strings.TrimSpace(rest)})
			continue
		}
		t.Indexes = append(t.Indexes, Index{Name: indexName(line), Def: line})
	}
	return t, nil
}

// ident reads a backquoted identifier at the start of s.
func ident(s string) (name, rest string, ok bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] == '`' {
			if i+1 < len(s) && s[i+1] == '`' {
				b.WriteByte('`')
				i++
				continue
			}
			return b.String(), s[i+1:], true
		}
		b.WriteByte(s[i])
	}
	return "", "", false
}

// indexName is the name of an index or constraint line.
func indexName(line string) string {
	if strings.HasPrefix(line, "PRIMARY KEY") {
		return "PRIMARY"
	}
	if i := strings.IndexByte(line, '`'); i >= 0 {
		if name, _, ok := ident(line[i:]); ok {
			return name
		}
	}
	return line
}

// Column returns the column named name (case-insensitive, as MySQL).
func (t Table) Column(name string) (Column, bool) {
	i := slices.IndexFunc(t.Columns, func(c Column) bool { return strings.EqualFold(c.Name, name) })
	if i < 0 {
		return Column{}, false
	}
	return t.Columns[i], true
}

// Index returns the index named name (case-insensitive).
func (t Table) Index(name string) (Index, bool) {
	i := slices.IndexFunc(t.Indexes, func(x Index) bool { return strings.EqualFold(x.Name, name) })
	if i < 0 {
		return Index{}, false
	}
	return t.Indexes[i], true
}

// String is the definition in one line: "(`id` bigint(20) NOT NULL, ...,
// PRIMARY KEY (`id`))".
func (t Table) String() string {
	var parts []string
	for _, c := range t.Columns {
		parts = append(parts, quote(c.Name)+" "+c.Def)
	}
	for _, x := range t.Indexes {
		parts = append(parts, x.Def)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// Equal reports whether two definitions have the same columns and
// indexes (in any order) and options.
func (t Table) Equal(u Table) bool {
	if len(t.Columns) != len(u.Columns) || len(t.Indexes) != len(u.Indexes) || t.Options != u.Options {
		return false
	}
	for _, c := range t.Columns {
		if d, ok := u.Column(c.Name); !ok || d.Def != c.Def {
			return false
		}
	}
	for _, x := range t.Indexes {
		if y, ok := u.Index(x.Name); !ok || y.Def != x.Def {
			return false
		}
	}
	return true
}

func quote(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }
