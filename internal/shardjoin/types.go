package shardjoin

import (
	"strconv"
	"strings"
)

// colType is a column definition split into its type and the rest.
type colType struct {
	base     string // "varchar", "int", ...
	params   string // inside the parentheses: "20", "10,2", "'a','b'"
	unsigned bool
	attrs    string // NULL-ness, default, character set, comment, ...
}

func parseType(def string) colType {
	var t colType
	i := 0
	for i < len(def) && (def[i] >= 'a' && def[i] <= 'z' || def[i] >= 'A' && def[i] <= 'Z' || def[i] >= '0' && def[i] <= '9' || def[i] == '_') {
		i++
	}
	t.base = strings.ToLower(def[:i])
	if i < len(def) && def[i] == '(' {
		quoted := false
		j := i + 1
		for ; j < len(def); j++ {
			switch {
			case def[j] == '\'':
				quoted = !quoted
			case def[j] == ')' && !quoted:
				t.params = def[i+1 : j]
				i = j + 1
				j = len(def) + 1
			}
		}
	}
	rest := strings.TrimSpace(def[i:])
	for {
		w, tail, _ := strings.Cut(rest, " ")
		switch strings.ToLower(w) {
		case "unsigned":
			t.unsigned = true
		case "zerofill", "signed":
		default:
			t.attrs = rest
			return t
		}
		rest = strings.TrimSpace(tail)
	}
}

var ranks = map[string][2]int{ // family, rank
	"tinyint": {1, 1}, "smallint": {1, 2}, "mediumint": {1, 3}, "int": {1, 4}, "integer": {1, 4}, "bigint": {1, 5},
	"tinytext": {2, 1}, "text": {2, 2}, "mediumtext": {2, 3}, "longtext": {2, 4},
	"tinyblob": {3, 1}, "blob": {3, 2}, "mediumblob": {3, 3}, "longblob": {3, 4},
	"float": {4, 1}, "double": {4, 2},
}

// fits reports whether every value of type a is a value of type b.
func fits(a, b colType) bool {
	if a.unsigned != b.unsigned || a.attrs != b.attrs {
		return false
	}
	if ra, ok := ranks[a.base]; ok {
		rb, ok := ranks[b.base]
		if !ok || ra[0] != rb[0] || ra[1] > rb[1] {
			return false
		}
		return ra[0] == 1 || ra[1] < rb[1] || a.params == b.params // int display widths do not matter
	}
	if a.base != b.base {
		return false
	}
	switch a.base {
	case "varchar", "char", "varbinary", "binary", "bit":
		na, errA := strconv.Atoi(a.params)
		nb, errB := strconv.Atoi(b.params)
		return errA == nil && errB == nil && na <= nb
	case "decimal", "numeric":
		pa, sa := precision(a.params)
		pb, sb := precision(b.params)
		return pa-sa <= pb-sb && sa <= sb
	}
	return a.params == b.params
}

// precision reads "p,s" of a decimal (defaults 10,0).
func precision(params string) (p, s int) {
	p = 10
	ps, ss, _ := strings.Cut(params, ",")
	if n, err := strconv.Atoi(strings.TrimSpace(ps)); err == nil {
		p = n
	}
	if n, err := strconv.Atoi(strings.TrimSpace(ss)); err == nil {
		s = n
	}
	return p, s
}

// wider returns the one of two column definitions whose type holds every
// value of the other's, with the rest of the definition equal; ok is
// false when neither does.
func wider(a, b string) (string, bool) {
	if a == b {
		return a, true
	}
	ta, tb := parseType(a), parseType(b)
	switch {
	case fits(ta, tb):
		return b, true
	case fits(tb, ta):
		return a, true
	}
	return "", false
}

// notNullNoDefault: a column that an INSERT naming other columns only
// cannot fill.
func notNullNoDefault(def string) bool {
	u := strings.ToUpper(parseType(def).attrs)
	return strings.Contains(u, "NOT NULL") && !strings.Contains(u, "DEFAULT ") && !strings.Contains(u, "AUTO_INCREMENT") &&
		!strings.Contains(u, "GENERATED ALWAYS") && !strings.Contains(u, " AS (")
}
