package planner

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/dmplan/dmplan/spec"
)

// FuzzPlanFile reads any bytes as a plan file, and any JSON as the plan a
// file carries (with a correct digest, as a tampered but re-signed file
// would): reading never panics, a plan that reads renders as text, JSON and
// markdown, and writing it back reads back the same digest.
func FuzzPlanFile(f *testing.F) {
	cur := State{Sources: map[string]spec.Source{}, Tasks: map[string]spec.Task{}, Bounds: map[string]string{}}
	want := State{
		Sources: map[string]spec.Source{"mysql-01": {Name: "mysql-01", Endpoint: spec.Endpoint{Host: "127.0.0.1", Port: 3306, User: "u"}}},
		Tasks: map[string]spec.Task{"shop": {Name: "shop", Mode: spec.ModeAll, Stage: spec.StageRunning,
			Target: spec.Endpoint{Host: "127.0.0.1", Port: 4000, User: "root"}, Sources: []string{"mysql-01"}, Tables: []string{"shop.*"}}},
		Bounds: map[string]string{},
	}
	p := SealSecrets(Diff(want, cur, []Worker{{Name: "agent-a"}}), cur)
	var file, inner bytes.Buffer
	if err := WriteFile(&file, p); err != nil {
		f.Fatal(err)
	}
	if err := json.NewEncoder(&inner).Encode(p); err != nil {
		f.Fatal(err)
	}
	f.Add(file.Bytes())
	f.Add(inner.Bytes())
	f.Add([]byte(`{"formatVersion":1}`))
	f.Add([]byte(`{"formatVersion":1,"changes":[{"kind":"task","name":"x","action":"replace","fields":[{"path":"spec.mode"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := ReadFile(bytes.NewReader(data)); err == nil {
			// Only a file WriteFile made verifies; a fuzzed one may too.
			t.Log("a fuzzed plan file verified")
		}
		var q Plan
		if json.Unmarshal(data, &q) != nil {
			return
		}
		q.FormatVersion = FormatVersion
		var buf bytes.Buffer
		if err := WriteFile(&buf, &q); err != nil {
			return
		}
		back, err := ReadFile(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("a plan WriteFile wrote does not read back: %v", err)
		}
		if back.Digest() != q.Digest() {
			t.Fatalf("digest changed through a plan file: %s -> %s", q.Digest(), back.Digest())
		}
		for _, render := range []func(io.Writer, *Plan) error{
			RenderJSON, RenderMarkdown,
			func(w io.Writer, p *Plan) error { return RenderText(w, p, TextOptions{}) },
		} {
			_ = render(io.Discard, back)
		}
	})
}
