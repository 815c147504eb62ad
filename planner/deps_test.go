package planner

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dmplan/dmplan/internal/deptest"
)

// TestPure: planner imports no etcd, SQL, MySQL client, network or cobra,
// directly or through other packages.
func TestPure(t *testing.T) { deptest.Pure(t) }

// TestImportsArePure keeps planner's own imports to the standard library
// (without net and database/sql), spec, internal/effect,
// internal/tablefilter, internal/ownership and go-cmp.
func TestImportsArePure(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{
		"github.com/dmplan/dmplan/spec":                  true,
		"github.com/dmplan/dmplan/internal/effect":       true, // the rule of a change's effect; pure, standard library only
		"github.com/dmplan/dmplan/internal/tablefilter":  true, // pure, standard library only; spec uses it too
		"github.com/dmplan/dmplan/internal/ownership":    true, // pure: the rule the units apply too
		"github.com/google/go-cmp/cmp":                   true,
		"github.com/dmplan/dmplan/internal/binlogfilter": true, // pure: the event filter's rules, shown in plans
		"github.com/dmplan/dmplan/internal/onlineddl":    true, // pure: online schema change rules
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
			if path == "net" || strings.HasPrefix(path, "database/sql") || strings.Contains(path, "etcd") {
				t.Errorf("%s imports %s", f, path) // checked before the standard library is let through
			}
			first, _, _ := strings.Cut(path, "/")
			if !strings.Contains(first, ".") {
				continue // standard library
			}
			if !allowed[path] {
				t.Errorf("%s imports %s; planner may import only the standard library, spec, internal/effect, internal/tablefilter, internal/ownership, internal/binlogfilter, internal/onlineddl and go-cmp", f, path)
			}
		}
	}
}
