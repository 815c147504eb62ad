package spec

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmplan/dmplan/internal/golden"
	"github.com/google/go-cmp/cmp"
)

const fixtures = "../testdata/spec"

// TestLoadHappy loads a folder of several files, documents and subfolders
// and compares the normalised Set with a golden file.
func TestLoadHappy(t *testing.T) {
	set, err := Load([]string{filepath.Join(fixtures, "happy")}, lookup(testEnv))
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(set, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "spec/happy.json", append(got, '\n'))
	for _, v := range testEnv {
		if v != "" && strings.Contains(string(got), v) {
			t.Errorf("a password value appears in the Set")
		}
	}
}

// TestLoadEquivalent loads the same desired state written differently.
func TestLoadEquivalent(t *testing.T) {
	a, err := Load([]string{filepath.Join(fixtures, "happy")}, lookup(testEnv))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load([]string{filepath.Join(fixtures, "equivalent", "all.yaml")}, lookup(testEnv))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a.Sources, b.Sources); diff != "" {
		t.Errorf("sources differ (-happy +equivalent):\n%s", diff)
	}
	if diff := cmp.Diff(a.Tasks, b.Tasks); diff != "" {
		t.Errorf("tasks differ (-happy +equivalent):\n%s", diff)
	}
}

func TestLoadDefaults(t *testing.T) {
	set, err := loadFiles(t, map[string]string{"a.yaml": validSource, "x.yaml": task("")})
	if err != nil {
		t.Fatal(err)
	}
	want := &Set{
		Sources: []Source{{Name: "mysql-01", Endpoint: Endpoint{
			Host: "127.0.0.1", Port: 3306, User: "dmplan",
			Password: Secret{Ref: "SOURCE_PASSWORD", Digest: Digest("SOURCE_PASSWORD", "s3cret-source")},
		}}},
		Tasks: []Task{{
			Name: "shop", Mode: ModeAll, Stage: StageRunning,
			Target:  Endpoint{Host: "127.0.0.1", Port: 3306, User: "root"},
			Sources: []string{"mysql-01"}, Tables: []string{"shop.*"},
			Dump: DumpConfig{Threads: 4},
			Sync: SyncConfig{Workers: 8, Batch: 100},
		}},
		Origin: map[string]string{"Source/mysql-01": "a.yaml:1", "Task/shop": "x.yaml:1"},
	}
	if diff := cmp.Diff(want, set); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
}
