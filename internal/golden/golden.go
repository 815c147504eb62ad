package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// update is the test binary's -update flag. A flag is the one way go test
// passes a switch to every package at once.
var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden/")

// Update reports whether the tests run with -update.
func Update() bool { return *update }

// Root returns the repository's root: the closest folder at or above the
// test's working directory (its package folder) that holds go.mod.
func Root(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatalf("golden: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatalf("golden: no go.mod at or above the working directory")
		}
		dir = parent
	}
}

// Path returns the path of testdata/golden/name (name uses slashes).
func Path(tb testing.TB, name string) string {
	tb.Helper()
	return filepath.Join(Root(tb), "testdata", "golden", filepath.FromSlash(name))
}

// Check compares got with testdata/golden/name, showing a diff when they
// differ; with -update it writes got there instead (creating folders).
func Check(tb testing.TB, name string, got []byte) {
	tb.Helper()
	path := Path(tb, name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatalf("golden: %v", err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatalf("golden: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("golden: %v (go test -update writes it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		tb.Errorf("testdata/golden/%s differs (-want +got; go test -update rewrites it):\n%s", name, diff)
	}
}
