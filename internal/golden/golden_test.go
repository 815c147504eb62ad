package golden

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const importPath = "github.com/dmplan/dmplan/internal/golden"

// TestEveryTestPackageAcceptsUpdate: every folder of the module with test
// files imports this package from one of them, so go test ./... -update
// runs everywhere (a binary without the flag fails its package).
func TestEveryTestPackageAcceptsUpdate(t *testing.T) {
	root := Root(t)
	self := filepath.Join(root, "internal", "golden")
	imports := map[string]bool{} // folder -> some test file imports golden
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && path != root {
				return filepath.SkipDir // another module
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") || filepath.Dir(path) == self {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		imports[dir] = imports[dir] || false
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == importPath {
				imports[dir] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(imports) < 5 {
		t.Fatalf("found test files in %d folders only", len(imports))
	}
	dirs := slices.Sorted(maps.Keys(imports))
	for _, dir := range dirs {
		ok := imports[dir]
		if !ok {
			rel, _ := filepath.Rel(root, dir)
			t.Errorf("%s: no test file imports %s: add update_test.go with a blank import of it, or go test ./... -update fails there", rel, importPath)
		}
	}
}

func TestCheck(t *testing.T) {
	if Update() {
		t.Skip("-update rewrites the files this test reads")
	}
	ft := &recorder{TB: t}
	Check(ft, "spec/happy.json", mustRead(t, Path(t, "spec/happy.json")))
	if ft.failed {
		t.Errorf("Check of a file against itself failed: %s", ft.msg)
	}
	ft = &recorder{TB: t}
	Check(ft, "spec/happy.json", []byte("{}\n"))
	if !ft.failed || !strings.Contains(ft.msg, "-want +got") {
		t.Errorf("Check of different content: failed=%v %q", ft.failed, ft.msg)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recorder records a failure instead of failing the test.
type recorder struct {
	testing.TB
	failed bool
	msg    string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
}
