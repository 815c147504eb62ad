package spec

import (
	"errors"
	"fmt"
	"os"
	"sort"
)

// Load reads the desired state from files and folders (folders are read
// recursively for *.yaml and *.yml; see doc.go), validates it and returns it
// normalised: defaults applied, sources and tasks sorted by name, table
// patterns and routes in their canonical spelling. getenv resolves ${VAR}
// password references (os.LookupEnv when nil); each variable is read once.
//
// Every problem is reported at once: the error is an ErrorList (and
// errors.Is(err, ErrInvalid)), sorted by file and line.
func Load(paths []string, getenv func(string) (string, bool)) (*Set, error) {
	if len(paths) == 0 {
		return nil, errors.New("load desired state: no files or folders given")
	}
	if getenv == nil {
		getenv = os.LookupEnv
	}
	l := &loader{secrets: newSecrets(getenv), errs: &errorSink{}}
	for _, file := range yamlFiles(paths, l.errs) {
		l.loadFile(file)
	}
	set := l.finish()
	if err := l.errs.err(); err != nil {
		return nil, err
	}
	return set, nil
}

// loader accumulates the documents of every file of one Load.
type loader struct {
	secrets *secrets
	errs    *errorSink
	objects []decl
}

// decl is one declared Source or Task.
type decl struct {
	kind   string
	name   string
	file   string
	line   int // of the document
	nline  int // of metadata.name
	source Source
	task   Task
	refs   []sourceRef
}

func (o decl) origin() string { return fmt.Sprintf("%s:%d", o.file, o.line) }

func (l *loader) loadFile(file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		l.errs.add(file, 0, "cannot read: %v", pathErrorReason(err))
		return
	}
	docs, err := parseDocuments(data)
	var se *syntaxError
	if errors.As(err, &se) {
		l.errs.add(file, se.line, "YAML syntax error: %s", se.msg)
	} else if err != nil {
		l.errs.add(file, 0, "YAML syntax error: %v", err)
	}
	d := &decoder{file: file, errs: l.errs, secrets: l.secrets}
	for _, root := range docs {
		if obj, ok := d.document(root); ok {
			l.objects = append(l.objects, obj)
		}
	}
}

// document decodes the envelope of one document and its spec. ok is false
// when the document declares nothing (no valid kind and name).
func (d *decoder) document(root *node) (decl, bool) {
	if root.kind != mapNode {
		d.errorf(root.line, "a document must be a mapping of apiVersion, kind, metadata and spec, not %s", describe(root))
		return decl{}, false
	}
	o, _ := d.object(root, "", root.line, "apiVersion", "kind", "metadata", "spec")
	obj := decl{file: d.file, line: root.line}
	valid := true
	switch av := o.str("apiVersion"); {
	case o.missing("apiVersion"):
		d.errorf(o.line, "apiVersion is required (want %s)", APIVersion)
		valid = false
	case av != APIVersion:
		if av != "" {
			d.errorf(o.lineOf("apiVersion"), "apiVersion %q is not supported (want %s)", av, APIVersion)
		}
		valid = false
	}
	switch kind := o.str("kind"); {
	case o.missing("kind"):
		d.errorf(o.line, "kind is required (want %s or %s)", KindSource, KindTask)
		valid = false
	case kind == KindSource || kind == KindTask:
		obj.kind = kind
	default:
		if kind != "" {
			d.errorf(o.lineOf("kind"), "kind %q is not supported (want %s or %s)", kind, KindSource, KindTask)
		}
		valid = false
	}
	obj.name, obj.nline = d.metadata(o)
	if obj.name == "" {
		valid = false
	}
	hasSpec := o.node("spec") != nil
	if !hasSpec {
		d.errorf(o.lineOf("spec"), "spec is required")
	}
	if obj.kind == "" || obj.name == "" {
		return obj, false
	}
	if valid && hasSpec {
		switch obj.kind {
		case KindSource:
			obj.source = d.source(o, obj.name)
		case KindTask:
			obj.task, obj.refs = d.task(o, obj.name)
		}
	}
	return obj, true
}

// metadata decodes metadata.name; it returns "" when it is missing or bad.
func (d *decoder) metadata(o *object) (name string, line int) {
	if o.node("metadata") == nil {
		d.errorf(o.lineOf("metadata"), "metadata.name is required")
		return "", 0
	}
	mo, ok := o.child("metadata", "name")
	if !ok {
		return "", 0
	}
	name = mo.str("name")
	line = mo.lineOf("name")
	switch {
	case mo.missing("name"):
		d.errorf(line, "metadata.name is required")
		return "", 0
	case name == "":
		return "", 0
	}
	if err := CheckName(name); err != nil {
		d.errorf(line, "metadata.name %q is not a valid name: %v", name, err)
		return "", 0
	}
	return name, line
}

// finish checks what needs every document (unique names, references to
// Sources) and builds the Set.
func (l *loader) finish() *Set {
	set := &Set{Origin: map[string]string{}}
	declared := map[string]decl{} // "Kind/name"
	for _, obj := range l.objects {
		key := obj.kind + "/" + obj.name
		if first, dup := declared[key]; dup {
			l.errs.add(obj.file, obj.nline, "%s %q is already declared at %s", obj.kind, obj.name, first.origin())
			continue
		}
		declared[key] = obj
		set.Origin[key] = obj.origin()
		switch obj.kind {
		case KindSource:
			set.Sources = append(set.Sources, obj.source)
		case KindTask:
			set.Tasks = append(set.Tasks, obj.task)
		}
	}
	for _, obj := range l.objects {
		for _, r := range obj.refs {
			if _, ok := declared[KindSource+"/"+r.name]; !ok {
				l.errs.add(obj.file, r.line, "spec.sources[%d] names Source %q, which is not declared", r.index, r.name)
			}
		}
	}
	sort.Slice(set.Sources, func(i, j int) bool { return set.Sources[i].Name < set.Sources[j].Name })
	sort.Slice(set.Tasks, func(i, j int) bool { return set.Tasks[i].Name < set.Tasks[j].Name })
	return set
}
