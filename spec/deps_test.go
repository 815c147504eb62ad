package spec

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPureDependencies checks that the pure packages import no etcd, no
// SQL, no MySQL client and no cobra, directly or not: those belong to the
// edges (store, units, cmd).
func TestPureDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	pkgs := []string{
		"github.com/dmplan/dmplan/spec",
		"github.com/dmplan/dmplan/planner",
		"github.com/dmplan/dmplan/internal/tablefilter",
	}
	forbidden := []string{
		"go.etcd.io/",
		"database/sql",
		"github.com/go-mysql-org/go-mysql",
		"github.com/go-sql-driver/mysql",
		"github.com/spf13/cobra",
	}
	for _, pkg := range pkgs {
		out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			first, _, _ := strings.Cut(dep, "/")
			if strings.HasSuffix(pkg, "/tablefilter") && strings.Contains(first, ".") && dep != pkg {
				t.Errorf("%s must use the standard library only; it imports %s", pkg, dep)
			}
			for _, f := range forbidden {
				if dep == f || strings.HasPrefix(dep, f) {
					t.Errorf("%s imports %s", pkg, dep)
				}
			}
		}
	}
}
