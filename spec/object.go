package spec

import (
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// decoder decodes the documents of one piece of a file and reports
// problems at their positions.
type decoder struct {
	file    string
	line    int // lines of the file before the piece
	errs    *errorSink
	secrets *secrets
}

// at is the position of a node in the file.
func (d *decoder) at(n *yaml.Node) pos { return pos{d.line + n.Line, n.Column} }

func (d *decoder) errorf(p pos, format string, args ...any) {
	d.errs.add(d.file, p, format, args...)
}

// Where messages point: a problem with a value (its type, a bad value)
// points at the value as written (an alias where it is used); a problem
// with a field (unknown, given twice, required, not allowed here) points at
// its key; a required field that is absent points at the key of the object
// that lacks it.

// object is a YAML mapping being decoded into a struct: every key must be
// one of the known fields.
type object struct {
	d      *decoder
	path   string // "spec", "spec.target"; "" for a document
	at     pos    // where messages about the object as a whole point: its key
	known  []string
	fields [maxFields]field // parallel to known; key is nil when the field is absent
}

// maxFields is the most fields an object has (a Task's spec).
const maxFields = 16

// field is one key of a mapping and its value, both as written (a value
// may be an alias).
type field struct {
	key, value *yaml.Node
}

// join appends a field name to a path, quoting names that are not plain
// ([A-Za-z0-9_-]+).
func join(path, name string) string {
	plain := name != ""
	for i := 0; i < len(name) && plain; i++ {
		c := name[i]
		plain = c == '_' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
	}
	if !plain {
		name = strconv.Quote(name)
	}
	if path == "" {
		return name
	}
	return path + "." + name
}

// object checks that n is a mapping (or null or absent: no fields) whose
// keys are all known; ok is false when n is something else. at is where
// messages about the object as a whole point: the position of its key.
//
// An object is a value (it does not escape to the heap): there are several
// for each document.
func (d *decoder) object(n *yaml.Node, path string, at pos, known ...string) (o object, ok bool) {
	if len(known) > maxFields {
		panic("spec: an object with more than maxFields fields")
	}
	o = object{d: d, path: path, at: at, known: known}
	if isNull(n) {
		return o, true
	}
	m := deref(n)
	if m.Kind != yaml.MappingNode {
		d.errorf(d.at(n), "%s must be a mapping, not %s", describePath(path), describe(n))
		return o, false
	}
	if hasMergeKey(m) {
		for _, f := range d.merged(m, path) {
			o.set(f.key, f.value)
		}
		return o, true
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		o.set(m.Content[i], m.Content[i+1])
	}
	return o, true
}

// set records key k with value v, or reports why it cannot.
func (o *object) set(k, v *yaml.Node) {
	d := o.d
	name, ok := stringKey(k)
	if !ok {
		d.errorf(d.at(k), "%s has a key that is not a string", describePath(o.path))
		return
	}
	i := slices.Index(o.known, name)
	if i < 0 {
		sorted := slices.Clone(o.known)
		slices.Sort(sorted)
		d.errorf(d.at(k), "unknown field %s (known fields: %s)", join(o.path, name), strings.Join(sorted, ", "))
		return
	}
	if first := o.fields[i].key; first != nil {
		d.errorf(d.at(k), "%s is given twice (first on line %d)", join(o.path, name), d.at(first).line)
		return
	}
	o.fields[i] = field{key: k, value: v}
}

// hasMergeKey reports whether mapping m has a merge key (<<) of its own.
func hasMergeKey(m *yaml.Node) bool {
	for i := 0; i < len(m.Content); i += 2 {
		if isMergeKey(m.Content[i]) {
			return true
		}
	}
	return false
}

// stringKey returns the name of a mapping key: the text of a scalar, as
// yaml.v2 took it (a key 1 is "1"); ok is false for a mapping or a list.
func stringKey(k *yaml.Node) (string, bool) {
	k = deref(k)
	if k.Kind != yaml.ScalarNode {
		return "", false
	}
	return k.Value, true
}

// merged returns the keys and values of mapping n, merges expanded (see
// eachKey).
func (d *decoder) merged(n *yaml.Node, path string) []field {
	var out []field
	d.eachKey(n, path, func(k, v *yaml.Node) { out = append(out, field{key: k, value: v}) })
	return out
}

// eachKey calls f with every key and value of mapping n in document order,
// expanding merge keys (<<: *base, or <<: [*a, *b]) in place. A mapping
// merged twice into one mapping is read once.
func (d *decoder) eachKey(n *yaml.Node, path string, f func(k, v *yaml.Node)) {
	var merged []*yaml.Node
	var walk func(m *yaml.Node)
	mergeOne := func(src *yaml.Node) {
		m := deref(src)
		if m.Kind != yaml.MappingNode {
			d.errorf(d.at(src), "%s: a merge key (<<) takes a mapping or a list of mappings, not %s", describePath(path), describe(src))
			return
		}
		if !slices.Contains(merged, m) {
			merged = append(merged, m)
			walk(m)
		}
	}
	walk = func(m *yaml.Node) {
		c := m.Content
		for i := 0; i+1 < len(c); i += 2 {
			k, v := c[i], c[i+1]
			if !isMergeKey(k) {
				f(k, v)
				continue
			}
			if s := deref(v); s.Kind == yaml.SequenceNode {
				for _, src := range s.Content {
					mergeOne(src)
				}
			} else {
				mergeOne(v)
			}
		}
	}
	walk(deref(n))
}

func describePath(path string) string {
	if path == "" {
		return "the document"
	}
	return path
}

// field returns field name; its key is nil when it is absent.
func (o *object) field(name string) field {
	if i := slices.Index(o.known, name); i >= 0 {
		return o.fields[i]
	}
	panic("spec: field " + name + " is not a known field of " + describePath(o.path))
}

// child decodes field name as an object with the known fields; an absent
// or null field is an object without fields.
func (o *object) child(name string, known ...string) (object, bool) {
	return o.d.object(o.field(name).value, o.fieldPath(name), o.keyAt(name), known...)
}

// fieldPath returns the path of field name.
func (o *object) fieldPath(name string) string { return join(o.path, name) }

// node returns the value of field name, aliases resolved, or nil when it is
// absent or null.
func (o *object) node(name string) *yaml.Node {
	v := o.field(name).value
	if isNull(v) {
		return nil
	}
	return deref(v)
}

// missing reports whether field name is absent, null or "".
func (o *object) missing(name string) bool {
	n := o.node(name)
	return n == nil || n.Kind == yaml.ScalarNode && n.Value == "" && typeOf(n) == typeString
}

// keyAt is the position of field name's key, or of the object when the
// field is absent.
func (o *object) keyAt(name string) pos {
	if k := o.field(name).key; k != nil {
		return o.d.at(k)
	}
	return o.at
}

// valueAt is the position of field name's value as written, or of its key
// when the value is null, or of the object when the field is absent.
func (o *object) valueAt(name string) pos {
	if f := o.field(name); !isNull(f.value) {
		return o.d.at(f.value)
	}
	return o.keyAt(name)
}

// str returns a string field, "" when absent. ${...} is refused: only
// password fields take references.
func (o *object) str(name string) string {
	s, ok := o.rawStr(name)
	if ok && strings.Contains(s, "${") {
		o.d.errorf(o.valueAt(name), "%s contains \"${\"; ${VAR} references are only expanded in password fields", o.fieldPath(name))
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
	s, ok := stringValue(n)
	if !ok {
		o.d.errorf(o.valueAt(name), "%s must be a string, not %s", o.fieldPath(name), describe(n))
		return "", false
	}
	return s, true
}

// integer returns an integer field within [lo, hi], def when absent.
func (o *object) integer(name string, def, lo, hi int64) int64 {
	n := o.node(name)
	if n == nil {
		return def
	}
	if n.Kind != yaml.ScalarNode || typeOf(n) != typeInt {
		o.d.errorf(o.valueAt(name), "%s must be an integer, not %s", o.fieldPath(name), describe(n))
		return def
	}
	v, ok := parseInt(n.Value)
	if !ok {
		// A !!int beyond int64: too large for any field.
		o.d.errorf(o.valueAt(name), "%s must be between %d and %d", o.fieldPath(name), lo, hi)
		return def
	}
	if v < lo || v > hi {
		o.d.errorf(o.valueAt(name), "%s must be between %d and %d, got %d", o.fieldPath(name), lo, hi, v)
		return def
	}
	return v
}

// emptyList reports whether list field name is absent, null or [].
func (o *object) emptyList(name string) bool {
	n := o.node(name)
	return n == nil || n.Kind == yaml.SequenceNode && len(n.Content) == 0
}

// list returns the items of a list field, as written, nil when absent.
func (o *object) list(name string) []*yaml.Node {
	n := o.node(name)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		o.d.errorf(o.valueAt(name), "%s must be a list, not %s", o.fieldPath(name), describe(n))
		return nil
	}
	return n.Content
}

// strItem is one string of a list, with its position.
type strItem struct {
	value string
	index int
	at    pos
}

// strList returns the strings of a list field; items that are not strings
// are reported and left out.
func (o *object) strList(name string) []strItem {
	items := o.list(name)
	if len(items) == 0 {
		return nil
	}
	out := make([]strItem, 0, len(items))
	for i, it := range items {
		s, ok := stringValue(it)
		if !ok {
			o.d.errorf(o.d.at(it), "%s[%d] must be a string, not %s", o.fieldPath(name), i, describe(it))
			continue
		}
		if strings.Contains(s, "${") {
			o.d.errorf(o.d.at(it), "%s[%d] contains \"${\"; ${VAR} references are only expanded in password fields", o.fieldPath(name), i)
			continue
		}
		out = append(out, strItem{value: s, index: i, at: o.d.at(it)})
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
	s, isStr := stringValue(n)
	if isStr && s == "" {
		return Secret{}
	}
	ref, ok := secretRefName(s)
	if !isStr || !ok {
		o.d.errorf(o.valueAt(name), "%s must be a ${VAR} reference; dmplan never stores passwords", o.fieldPath(name))
		return Secret{}
	}
	sec, ok := o.d.secrets.resolve(ref)
	if !ok {
		o.d.errorf(o.valueAt(name), "%s refers to ${%s}, which is not set in the environment", o.fieldPath(name), ref)
		return Secret{}
	}
	return sec
}
