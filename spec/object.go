package spec

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// decoder decodes the documents of one file and reports problems with
// their lines.
type decoder struct {
	file    string
	errs    *errorSink
	secrets *secrets
}

func (d *decoder) errorf(line int, format string, args ...any) {
	d.errs.add(d.file, line, format, args...)
}

// object is a YAML mapping being decoded into a struct: every key must be
// one of the known fields.
type object struct {
	d      *decoder
	path   string // "spec", "spec.target"; "" for a document
	line   int
	fields map[string]mapItem
}

// join appends a field name to a path, quoting names that are not plain.
func join(path, name string) string {
	if !plainKey.MatchString(name) {
		name = strconv.Quote(name)
	}
	if path == "" {
		return name
	}
	return path + "." + name
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// object checks that n is a mapping (or null: no fields) whose keys are all
// known; ok is false when n is something else. line is where messages about
// the object as a whole point: the line of its key.
func (d *decoder) object(n *node, path string, line int, known ...string) (_ *object, ok bool) {
	o := &object{d: d, path: path, line: line, fields: map[string]mapItem{}}
	switch n.kind {
	case nullNode:
		return o, true
	case mapNode:
	default:
		d.errorf(line, "%s must be a mapping, not %s", describePath(path), describe(n))
		return o, false
	}
	for _, line := range n.badKeys {
		d.errorf(line, "%s has a key that is not a string", describePath(path))
	}
	for _, k := range n.keys {
		if first, dup := o.fields[k.name]; dup {
			d.errorf(k.line, "%s is given twice (first on line %d)", join(path, k.name), first.line)
			continue
		}
		if !contains(known, k.name) {
			sorted := append([]string(nil), known...)
			sort.Strings(sorted)
			d.errorf(k.line, "unknown field %s (known fields: %s)", join(path, k.name), strings.Join(sorted, ", "))
			continue
		}
		o.fields[k.name] = k
	}
	return o, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func describePath(path string) string {
	if path == "" {
		return "the document"
	}
	return path
}

// describe names the kind of a node for type errors. It never shows the
// value, which may be a password.
func describe(n *node) string {
	switch n.kind {
	case nullNode:
		return "empty"
	case mapNode:
		return "a mapping"
	case seqNode:
		return "a list"
	}
	switch n.value.(type) {
	case string:
		return "a string"
	case int, int64, uint64:
		return "an integer"
	case float64:
		return "a number"
	case bool:
		return "a boolean (quote yes, no, on, off, true and false to make them strings)"
	}
	return fmt.Sprintf("a %T", n.value)
}

// child decodes field name as an object with the known fields; an absent
// or null field is an object without fields.
func (o *object) child(name string, known ...string) (*object, bool) {
	n := o.node(name)
	if n == nil {
		n = &node{kind: nullNode, line: o.lineOf(name)}
	}
	return o.d.object(n, o.at(name), o.lineOf(name), known...)
}

// at returns the path of field name.
func (o *object) at(name string) string { return join(o.path, name) }

// node returns the value of field name, or nil when it is absent or null.
func (o *object) node(name string) *node {
	k, ok := o.fields[name]
	if !ok || k.value.kind == nullNode {
		return nil
	}
	return k.value
}

// missing reports whether field name is absent, null or "".
func (o *object) missing(name string) bool {
	n := o.node(name)
	return n == nil || n.kind == scalarNode && n.value == ""
}

// lineOf is the line of field name's key, or of the object when absent.
func (o *object) lineOf(name string) int {
	if k, ok := o.fields[name]; ok {
		return k.line
	}
	return o.line
}

// str returns a string field, "" when absent. ${...} is refused: only
// password fields take references.
func (o *object) str(name string) string {
	s, ok := o.rawStr(name)
	if ok && strings.Contains(s, "${") {
		o.d.errorf(o.lineOf(name), "%s contains \"${\"; ${VAR} references are only expanded in password fields", o.at(name))
		return ""
	}
	return s
}

// rawStr returns a string field as written; ok is false when it is absent
// or not a string (reported).
func (o *object) rawStr(name string) (string, bool) {
	n := o.node(name)
	if n == nil {
		return "", false
	}
	s, isStr := n.value.(string)
	if n.kind != scalarNode || !isStr {
		o.d.errorf(o.lineOf(name), "%s must be a string, not %s", o.at(name), describe(n))
		return "", false
	}
	return s, true
}

// int returns an integer field within [lo, hi], def when absent.
func (o *object) integer(name string, def, lo, hi int64) int64 {
	n := o.node(name)
	if n == nil {
		return def
	}
	v, ok := toInt64(n)
	if !ok {
		if _, isUint := n.value.(uint64); isUint {
			o.d.errorf(o.lineOf(name), "%s must be between %d and %d", o.at(name), lo, hi)
			return def
		}
		o.d.errorf(o.lineOf(name), "%s must be an integer, not %s", o.at(name), describe(n))
		return def
	}
	if v < lo || v > hi {
		o.d.errorf(o.lineOf(name), "%s must be between %d and %d, got %d", o.at(name), lo, hi, v)
		return def
	}
	return v
}

func toInt64(n *node) (int64, bool) {
	if n.kind != scalarNode {
		return 0, false
	}
	switch v := n.value.(type) {
	case int:
		return int64(v), true
	case int64:
		return v, true
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v), true
		}
	}
	return 0, false
}

// emptyList reports whether list field name is absent, null or [].
func (o *object) emptyList(name string) bool {
	n := o.node(name)
	return n == nil || n.kind == seqNode && len(n.items) == 0
}

// list returns the items of a list field, nil when absent.
func (o *object) list(name string) []*node {
	n := o.node(name)
	if n == nil {
		return nil
	}
	if n.kind != seqNode {
		o.d.errorf(o.lineOf(name), "%s must be a list, not %s", o.at(name), describe(n))
		return nil
	}
	return n.items
}

// strItem is one string of a list, with its line.
type strItem struct {
	value string
	index int
	line  int
}

// strList returns the strings of a list field; items that are not strings
// are reported and left out.
func (o *object) strList(name string) []strItem {
	var out []strItem
	for i, it := range o.list(name) {
		path := fmt.Sprintf("%s[%d]", o.at(name), i)
		s, ok := it.value.(string)
		if it.kind != scalarNode || !ok {
			o.d.errorf(it.line, "%s must be a string, not %s", path, describe(it))
			continue
		}
		if strings.Contains(s, "${") {
			o.d.errorf(it.line, "%s contains \"${\"; ${VAR} references are only expanded in password fields", path)
			continue
		}
		out = append(out, strItem{value: s, index: i, line: it.line})
	}
	return out
}

// password returns a password field as a Secret: absent or empty, or a
// whole-value ${VAR} reference resolved through the environment. The value
// is never part of a message.
func (o *object) password(name string) Secret {
	n := o.node(name)
	if n == nil {
		return Secret{}
	}
	s, isStr := n.value.(string)
	if n.kind == scalarNode && isStr && s == "" {
		return Secret{}
	}
	m := secretRef.FindStringSubmatch(s)
	if n.kind != scalarNode || !isStr || m == nil {
		o.d.errorf(o.lineOf(name), "%s must be a ${VAR} reference; dmplan never stores passwords", o.at(name))
		return Secret{}
	}
	sec, ok := o.d.secrets.resolve(m[1])
	if !ok {
		o.d.errorf(o.lineOf(name), "%s refers to ${%s}, which is not set in the environment", o.at(name), m[1])
		return Secret{}
	}
	return sec
}
