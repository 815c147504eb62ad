package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/mariadbtest"
)

// Shared by every test: the dmplan binary, built once, and one MariaDB
// source and one target. Each test has its own etcd (a `dmplan server`
// process), its own agents, its own databases and users.
var (
	dmplanBin      string
	source, target *mariadbtest.Server
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if !mariadbtest.Available() {
		if os.Getenv("DMPLAN_SKIP_MARIADB") == "1" {
			fmt.Println("e2e: skipped: MariaDB not installed and DMPLAN_SKIP_MARIADB=1")
			return 0
		}
		fmt.Fprintln(os.Stderr, "e2e: mariadbd not found: install Debian's mariadb-server (scripts/test.sh does), or set DMPLAN_SKIP_MARIADB=1")
		return 1
	}
	dir, err := os.MkdirTemp("", "dmplan-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)

	dmplanBin = filepath.Join(dir, "dmplan")
	build := exec.Command("go", "build", "-o", dmplanBin, "./cmd/dmplan")
	build.Dir = moduleRoot()
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: build dmplan: %v\n%s", err, out)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	source, err = mariadbtest.Start(ctx, filepath.Join(dir, "source"), mariadbtest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer source.Stop()
	target, err = mariadbtest.Start(ctx, filepath.Join(dir, "target"), mariadbtest.Options{NoBinlog: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer target.Stop()
	return m.Run()
}

// moduleRoot is the directory of go.mod, two levels up from this package.
func moduleRoot() string {
	wd, _ := os.Getwd()
	for d := wd; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	return filepath.Join(wd, "..", "..")
}

// waitFor polls cond until it holds or d passes; it never sleeps blindly.
func waitFor(t *testing.T, d time.Duration, what string, cond func() (bool, error)) time.Duration {
	t.Helper()
	start := time.Now()
	var last error
	for {
		ok, err := cond()
		if ok {
			return time.Since(start)
		}
		if err != nil {
			last = err
		}
		if time.Since(start) > d {
			if last != nil {
				t.Fatalf("timed out after %s waiting for %s (last error: %v)", d, what, last)
			}
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tail returns the last n bytes of a file, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	s := string(b)
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return strings.TrimSpace(s)
}
