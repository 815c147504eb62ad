package planner

import (
	"fmt"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/dmplan/dmplan/spec"
)

func TestZZGenerateCurrent(t *testing.T) {
	cases, _ := filepath.Glob("/tmp/gen/cases/*")
	for _, c := range cases {
		var meta struct {
			Bounds       map[string]string `json:"bounds"`
			Workers      []string          `json:"workers"`
			Env          map[string]string `json:"env"`
			BaseRevision int64             `json:"baseRevision"`
		}
		raw, _ := os.ReadFile(filepath.Join(c, "meta.json"))
		if err := json.Unmarshal(raw, &meta); err != nil {
			t.Fatal(err)
		}
		env := func(k string) (string, bool) {
			if v, ok := meta.Env[k]; ok {
				return v, true
			}
			return goldenGetenv(k)
		}
		st := State{Sources: map[string]spec.Source{}, Tasks: map[string]spec.Task{}, Bounds: map[string]string{}}
		if _, err := os.Stat(filepath.Join(c, "current")); err == nil {
			set, err := spec.Load([]string{filepath.Join(c, "current")}, env)
			if err != nil {
				t.Fatalf("%s: %v", c, err)
			}
			st = FromSpec(set)
		}
		if meta.Bounds != nil {
			st.Bounds = meta.Bounds
		}
		in := goldenInput{State: st, Workers: []Worker{}, BaseRevision: meta.BaseRevision}
		for _, w := range meta.Workers {
			in.Workers = append(in.Workers, Worker{Name: w, Address: fmt.Sprintf("127.0.0.1:%d", 8291+len(in.Workers))})
		}
		out, _ := json.MarshalIndent(in, "", "  ")
		out = append(out, '\n')
		if err := os.WriteFile(filepath.Join(goldenDir, filepath.Base(c), "current.json"), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
