package spec

import (
	"maps"
	"strings"
	"testing"
)

// withAnnotations puts lines (indented by four spaces) under
// metadata.annotations of task(""): the first is line 5.
func withAnnotations(lines string) string {
	return strings.Replace(task(""), "  name: shop\n", "  name: shop\n  annotations:\n"+lines, 1)
}

func TestAnnotationErrors(t *testing.T) {
	tests := []struct {
		name string
		x    string
		want []string
	}{
		{"unquoted boolean", withAnnotations("    dmplan/protect: true\n"),
			[]string{`x.yaml:6:21: metadata.annotations["dmplan/protect"] must be a string, not a boolean (quote yes, no, on, off, true and false to make them strings) (quote it: "true")`}},
		{"protect neither true nor false", withAnnotations("    dmplan/protect: \"yes please\"\n"),
			[]string{`x.yaml:6:21: metadata.annotations["dmplan/protect"] must be "true" or "false", not "yes please"`}},
		{"unknown dmplan annotation", withAnnotations("    dmplan/protected: \"true\"\n"),
			[]string{`x.yaml:6:5: metadata.annotations["dmplan/protected"]: the key uses the prefix "dmplan/", which is dmplan's own; the only dmplan annotation is dmplan/protect`}},
		{"bad key", withAnnotations("    \"owner team\": dba\n"),
			[]string{`x.yaml:6:5: metadata.annotations["owner team"]: the key must be a name of 1 to 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit, optionally after a DNS prefix and "/" (example.com/owner)`}},
		{"bad prefix", withAnnotations("    Example.COM/owner: dba\n"),
			[]string{`x.yaml:6:5: metadata.annotations["Example.COM/owner"]: the key has a prefix that is not a DNS subdomain (lower-case labels of a-z, 0-9 and "-" joined by ".", at most 253 characters)`}},
		{"not a mapping", withAnnotations("    - dmplan/protect\n"),
			[]string{`x.yaml:6:5: metadata.annotations must be a mapping of strings, not a list`}},
		{"value a mapping", withAnnotations("    example.com/owner: {team: dba}\n"),
			[]string{`x.yaml:6:24: metadata.annotations["example.com/owner"] must be a string, not a mapping`}},
		{"key twice", withAnnotations("    a: x\n    a: y\n"),
			[]string{`x.yaml:7:5: metadata.annotations["a"] is given twice`}},
		{"unknown metadata field", strings.Replace(task(""), "  name: shop\n", "  name: shop\n  labels: {a: b}\n", 1),
			[]string{`x.yaml:5:3: unknown field metadata.labels (known fields: annotations, name)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadFiles(t, map[string]string{"a.yaml": validSource, "x.yaml": tt.x})
			checkErrors(t, err, tt.want)
		})
	}
}

// Annotations load onto Sources and Tasks, survive Marshal (export), and
// an empty mapping is no annotations.
func TestAnnotationsLoad(t *testing.T) {
	src := strings.Replace(validSource, "  name: mysql-01\n", "  name: mysql-01\n  annotations: {dmplan/protect: \"true\", example.com/owner: dba, note: \"\"}\n", 1)
	set, err := loadFiles(t, map[string]string{"a.yaml": src, "x.yaml": withAnnotations("    dmplan/protect: \"false\"\n") + "---\n" +
		strings.Replace(strings.Replace(task(""), "name: shop", "name: crm", 1), "  name: crm\n", "  name: crm\n  annotations: {}\n", 1)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"dmplan/protect": "true", "example.com/owner": "dba", "note": ""}
	if got := set.Sources[0].Annotations; !maps.Equal(got, want) || !Protected(got) {
		t.Errorf("source annotations %v, want %v (protected)", got, want)
	}
	if got := set.Tasks[1].Annotations; !maps.Equal(got, map[string]string{"dmplan/protect": "false"}) || Protected(got) {
		t.Errorf("task shop annotations %v", got)
	}
	if got := set.Tasks[0].Annotations; got != nil {
		t.Errorf("task crm: annotations: {} gives %v, want nil", got)
	}
	out, err := Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	back, err := loadFiles(t, map[string]string{"export.yaml": string(out)})
	if err != nil {
		t.Fatalf("load the export: %v\n%s", err, out)
	}
	if !maps.Equal(back.Sources[0].Annotations, want) || !maps.Equal(back.Tasks[1].Annotations, set.Tasks[1].Annotations) {
		t.Errorf("annotations lost by Marshal:\n%s", out)
	}
}
