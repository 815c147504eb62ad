package mariadbtest

import (
	"context"
	"os"
	"testing"
)

// New starts a server for the test and stops it at cleanup. When the
// binaries are missing the test fails, unless DMPLAN_SKIP_MARIADB=1 says
// to skip tests that need MariaDB.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	if !Available() && os.Getenv("DMPLAN_SKIP_MARIADB") == "1" {
		t.Skip("MariaDB not installed and DMPLAN_SKIP_MARIADB=1")
	}
	s, err := Start(context.Background(), t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}
