package spec

import (
	"errors"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Annotations are metadata.annotations: free-form string pairs on a Source
// or a Task, kept in etcd and shown in plans when they change. Keys under
// the "dmplan/" prefix are dmplan's own; the only one is AnnotationProtect.
//
// A key is a name of 1 to 63 letters, digits, "-", "_" and ".", starting
// and ending with a letter or digit, optionally after a prefix and "/": a
// DNS subdomain (lower-case labels joined by ".", at most 253 characters),
// as Kubernetes annotation keys are.
const (
	// AnnotationProtect: "true" protects the object: a plan that would
	// delete it, replace it or restart it from a fresh dump is refused
	// (planner.CheckProtected). "false" is the same as no annotation.
	AnnotationProtect = "dmplan/protect"
	annotationPrefix  = "dmplan/"
	maxAnnotation     = 4096 // bytes of a value
)

// Protected reports whether annotations protect their object.
func Protected(annotations map[string]string) bool { return annotations[AnnotationProtect] == "true" }

// CheckAnnotationKey reports whether key is a valid annotation key.
func CheckAnnotationKey(key string) error {
	prefix, name, hasPrefix := strings.Cut(key, "/")
	if !hasPrefix {
		prefix, name = "", key
	}
	nameOK := len(name) <= 63 && isLabel(name, func(c byte) bool { return c == '-' || c == '_' || c == '.' || isAlnum(c) })
	if !nameOK {
		return errors.New(`must be a name of 1 to 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit, optionally after a DNS prefix and "/" (example.com/owner)`)
	}
	if hasPrefix {
		ok := prefix != "" && len(prefix) <= 253
		for _, label := range strings.Split(prefix, ".") {
			ok = ok && len(label) <= 63 && isLabel(label, func(c byte) bool { return c == '-' || isLowerAlnum(c) })
		}
		if !ok {
			return errors.New(`has a prefix that is not a DNS subdomain (lower-case labels of a-z, 0-9 and "-" joined by ".", at most 253 characters)`)
		}
	}
	if hasPrefix && prefix+"/" == annotationPrefix && key != AnnotationProtect {
		return errors.New(`uses the prefix "dmplan/", which is dmplan's own; the only dmplan annotation is ` + AnnotationProtect)
	}
	return nil
}

// annotations decodes metadata.annotations; nil when absent or empty.
func (d *decoder) annotations(mo *object) map[string]string {
	n := mo.node("annotations")
	if n == nil {
		return nil
	}
	path := mo.fieldPath("annotations")
	if n.Kind != yaml.MappingNode {
		d.errorf(mo.valueAt("annotations"), "%s must be a mapping of strings, not %s", path, describe(n))
		return nil
	}
	var out map[string]string
	d.eachKey(n, path, func(k, v *yaml.Node) {
		key, ok := stringKey(k)
		if !ok {
			d.errorf(d.at(k), "%s has a key that is not a string", path)
			return
		}
		kp := path + "[" + quoteKey(key) + "]"
		if err := CheckAnnotationKey(key); err != nil {
			d.errorf(d.at(k), "%s: the key %v", kp, err)
			return
		}
		if _, dup := out[key]; dup {
			d.errorf(d.at(k), "%s is given twice", kp)
			return
		}
		value, ok := stringValue(v)
		if !ok {
			hint := ""
			if vv := deref(v); vv.Kind == yaml.ScalarNode {
				hint = ` (quote it: "` + vv.Value + `")`
			}
			d.errorf(d.at(v), "%s must be a string, not %s%s", kp, describe(v), hint)
			return
		}
		switch {
		case len(value) > maxAnnotation:
			d.errorf(d.at(v), "%s is longer than %d bytes", kp, maxAnnotation)
			return
		case key == AnnotationProtect && value != "true" && value != "false":
			d.errorf(d.at(v), `%s must be "true" or "false", not %q`, kp, value)
			return
		}
		if out == nil {
			out = map[string]string{}
		}
		out[key] = value
	})
	return out
}

// quoteKey quotes an annotation key for messages.
func quoteKey(k string) string { return `"` + strings.ReplaceAll(k, `"`, `\"`) + `"` }
