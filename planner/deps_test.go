package planner

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportsArePure keeps planner pure: its non-test files import only the
// standard library, spec, internal/tablefilter and go-cmp; never etcd, SQL
// drivers or cobra.
func TestImportsArePure(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{
		"github.com/dmplan/dmplan/spec":                 true,
		"github.com/dmplan/dmplan/internal/effect":      true, // the rule of a change's effect; pure, standard library only
		"github.com/dmplan/dmplan/internal/tablefilter": true, // pure, standard library only; spec uses it too
		"github.com/dmplan/dmplan/internal/ownership":   true, // pure: the rule the units apply too
		"github.com/google/go-cmp/cmp":                  true,
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ast, err := parser.ParseFile(fset, f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if !strings.Contains(first, ".") {
				continue // standard library
			}
			if !allowed[path] {
				t.Errorf("%s imports %s; planner may import only the standard library, spec, internal/effect, internal/tablefilter and go-cmp", f, path)
			}
			if path == "database/sql" || strings.Contains(path, "etcd") {
				t.Errorf("%s imports %s", f, path)
			}
		}
	}
}
