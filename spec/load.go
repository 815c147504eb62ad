package spec

import (
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Load reads the desired state from files and folders (folders are read
// recursively for *.yaml and *.yml; see doc.go), validates it and returns it
// normalised: defaults applied, sources and tasks sorted by name, table
// patterns and routes in their canonical spelling. getenv resolves ${VAR}
// password references (os.LookupEnv when nil); each variable is read once.
// getenv may be called from several goroutines, one at a time.
//
// Every problem is reported at once: the error is an ErrorList (and
// errors.Is(err, ErrInvalid)), sorted by file, line and column.
func Load(paths []string, getenv func(string) (string, bool)) (*Set, error) {
	return LoadWith(paths, getenv, nil)
}

// LoadWith is Load with the installation's Hasher for the password digests
// (plan and apply read it from etcd). A nil h is NewHasher(nil).
func LoadWith(paths []string, getenv func(string) (string, bool), h *Hasher) (*Set, error) {
	if h == nil {
		h = NewHasher(nil)
	}
	if len(paths) == 0 {
		return nil, errors.New("load desired state: no files or folders given")
	}
	if getenv == nil {
		getenv = os.LookupEnv
	}
	l := &loader{errs: &errorSink{}}
	pieces := readPieces(yamlFiles(paths, l.errs), l.errs)
	sec := newSecrets(getenv, h)
	l.collect(pieces, decodePieces(pieces, sec))
	set := l.finish()
	if err := l.errs.err(); err != nil {
		return nil, err
	}
	sec.fill(set)
	return set, nil
}

// loader accumulates the documents of every file of one Load.
type loader struct {
	errs *errorSink
	// objects are the declarations of each piece, in order (not copied
	// into one slice: a declaration holds a whole Task).
	objects [][]decl
	n       int // declarations in all
}

// each calls f with every declaration, in order.
func (l *loader) each(f func(obj *decl)) {
	for _, part := range l.objects {
		for i := range part {
			f(&part[i])
		}
	}
}

// decl is one declared Source or Task.
type decl struct {
	kind   string
	name   string
	file   string
	at     pos // of the document
	nameAt pos // of metadata.name
	// source is a pointer: 100,000 tasks' declarations would carry 14 MB of
	// empty Sources.
	source *Source
	task   Task
	refs   []sourceRef
}

// collect takes the documents and errors of every piece, in order, up to
// the piece whose result stands for the rest of its file. (After a syntax
// error, the rest of a file is not read, as when it is parsed whole.)
func (l *loader) collect(pieces []piece, results []pieceResult) {
	done := "" // the file whose rest is read
	for i, r := range results {
		if pieces[i].file == done {
			continue
		}
		l.errs.list = append(l.errs.list, r.errs...)
		l.objects = append(l.objects, r.objects)
		l.n += len(r.objects)
		if r.last {
			done = pieces[i].file
		}
	}
}

// document decodes the envelope of one document and its spec. ok is false
// when the document declares nothing (no valid kind and name).
func (d *decoder) document(root *yaml.Node) (decl, bool) {
	if root.Kind != yaml.MappingNode {
		d.errorf(d.at(root), "a document must be a mapping of apiVersion, kind, metadata and spec, not %s", describe(root))
		return decl{}, false
	}
	o, _ := d.object(root, "", d.at(root), "apiVersion", "kind", "metadata", "spec")
	obj := decl{file: d.file, at: d.at(root)}
	valid := true
	switch av := o.str("apiVersion"); {
	case o.missing("apiVersion"):
		d.errorf(o.keyAt("apiVersion"), "apiVersion is required (want %s)", APIVersion)
		valid = false
	case av != APIVersion:
		if av != "" {
			d.errorf(o.valueAt("apiVersion"), "apiVersion %q is not supported (want %s)", av, APIVersion)
		}
		valid = false
	}
	switch kind := o.str("kind"); {
	case o.missing("kind"):
		d.errorf(o.keyAt("kind"), "kind is required (want %s or %s)", KindSource, KindTask)
		valid = false
	case kind == KindSource || kind == KindTask:
		obj.kind = kind
	default:
		if kind != "" {
			d.errorf(o.valueAt("kind"), "kind %q is not supported (want %s or %s)", kind, KindSource, KindTask)
		}
		valid = false
	}
	var annotations map[string]string
	obj.name, obj.nameAt, annotations = d.metadata(&o)
	if obj.name == "" {
		valid = false
	}
	hasSpec := o.node("spec") != nil
	if !hasSpec {
		d.errorf(o.keyAt("spec"), "spec is required")
	}
	if obj.kind == "" || obj.name == "" {
		return obj, false
	}
	if valid && hasSpec {
		switch obj.kind {
		case KindSource:
			src := d.source(&o, obj.name)
			src.Annotations = annotations
			obj.source = &src
		case KindTask:
			obj.task, obj.refs = d.task(&o, obj.name)
			obj.task.Annotations = annotations
		}
	}
	return obj, true
}

// metadata decodes metadata.name and metadata.annotations; name is ""
// when it is missing or bad.
func (d *decoder) metadata(o *object) (name string, at pos, annotations map[string]string) {
	if o.node("metadata") == nil {
		d.errorf(o.keyAt("metadata"), "metadata.name is required")
		return "", pos{}, nil
	}
	mo, ok := o.child("metadata", "name", "annotations")
	if !ok {
		return "", pos{}, nil
	}
	annotations = d.annotations(&mo)
	name = mo.str("name")
	switch {
	case mo.missing("name"):
		d.errorf(mo.keyAt("name"), "metadata.name is required")
		return "", pos{}, nil
	case name == "":
		return "", pos{}, nil
	}
	at = mo.valueAt("name")
	if err := CheckName(name); err != nil {
		d.errorf(at, "metadata.name %q is not a valid name: %v", name, err)
		return "", pos{}, nil
	}
	return name, at, annotations
}

// finish checks what needs every document (unique names, references to
// Sources) and builds the Set.
func (l *loader) finish() *Set {
	set := &Set{Origin: make(map[string]string, l.n)}
	n := 0
	l.each(func(obj *decl) {
		if obj.kind == KindSource {
			n++
		}
	})
	if n > 0 {
		set.Sources = make([]Source, 0, n) // nil when there are none, as before
	}
	if l.n > n {
		set.Tasks = make([]Task, 0, l.n-n)
	}
	sources := make(map[string]bool, n)
	l.each(func(obj *decl) {
		key := obj.kind + "/" + obj.name
		if first, dup := set.Origin[key]; dup {
			l.errs.add(obj.file, obj.nameAt, "%s %q is already declared at %s", obj.kind, obj.name, first)
			return
		}
		set.Origin[key] = obj.file + ":" + strconv.Itoa(obj.at.line)
		switch obj.kind {
		case KindSource:
			if obj.source != nil {
				set.Sources = append(set.Sources, *obj.source)
			} else {
				set.Sources = append(set.Sources, Source{})
			}
			sources[obj.name] = true
		case KindTask:
			set.Tasks = append(set.Tasks, obj.task)
		}
	})
	l.each(func(obj *decl) {
		for _, r := range obj.refs {
			if !sources[r.name] {
				l.errs.add(obj.file, r.at, "spec.sources[%d] names Source %q, which is not declared", r.index, r.name)
			}
		}
	})
	// Names are unique here; files usually list them in order already.
	bySource := func(a, b Source) int { return strings.Compare(a.Name, b.Name) }
	if !slices.IsSortedFunc(set.Sources, bySource) {
		slices.SortFunc(set.Sources, bySource)
	}
	byTask := func(a, b Task) int { return strings.Compare(a.Name, b.Name) }
	if !slices.IsSortedFunc(set.Tasks, byTask) {
		slices.SortFunc(set.Tasks, byTask)
	}
	return set
}
