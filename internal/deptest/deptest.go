// Package deptest checks what a package depends on, directly or through
// other packages (as Tailscale's tstest/deptest does): a pure package
// (spec, planner, reconciler, units/ddl, ...) imports no etcd, no SQL, no
// MySQL client, no network and no cobra.
package deptest

import (
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// notPure are the import paths, with everything below them, that a pure
// package must not depend on.
var notPure = []string{
	"go.etcd.io",               // etcd
	"google.golang.org/grpc",   // etcd's transport
	"database/sql",             // SQL (and its driver interface)
	"github.com/go-sql-driver", // the MySQL driver
	"github.com/go-mysql-org",  // the binlog reader
	"github.com/spf13/cobra",   // the command line
	"github.com/pingcap/tidb",  // a SQL parser with its own runtime
	"github.com/prometheus",    // metrics
	"net/http", "crypto/tls",   // the network (net itself below)
}

// forbidden reports whether dep is something a pure package must not
// import. Package net is the network; net/netip and net/url are pure
// parsing and allowed.
func forbidden(dep string) bool {
	if dep == "net" {
		return true
	}
	for _, p := range notPure {
		if dep == p || strings.HasPrefix(dep, p+"/") {
			return true
		}
	}
	return false
}

// Pure fails t when the package in the test's working directory (its own
// folder, as go test runs it) depends on etcd, SQL, a MySQL client, the
// network or cobra, naming the chain of imports that brings each in.
// Test files are not counted.
func Pure(t *testing.T) {
	t.Helper()
	self, graph := load(t)
	for _, dep := range slices.Sorted(maps.Keys(graph)) {
		if forbidden(dep) {
			t.Errorf("%s must stay pure, but imports %s (%s)", self, dep, strings.Join(chain(graph, self, dep), " -> "))
		}
	}
}

// Only fails t when the package imports anything outside the standard
// library other than allowed (import paths, exactly), directly or not.
func Only(t *testing.T, allowed ...string) {
	t.Helper()
	self, graph := load(t)
	for _, dep := range slices.Sorted(maps.Keys(graph)) {
		first, _, _ := strings.Cut(dep, "/")
		if dep == self || !strings.Contains(first, ".") || slices.Contains(allowed, dep) {
			continue
		}
		t.Errorf("%s imports %s (%s); it may import only the standard library and %v",
			self, dep, strings.Join(chain(graph, self, dep), " -> "), allowed)
	}
}

// load returns the import path of the package in the working directory and
// the import graph below it (every dependency -> its direct imports).
func load(t *testing.T) (string, map[string][]string) {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("deptest needs the go command on PATH: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	graph := map[string][]string{}
	var self string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		graph[f[0]] = f[1:]
		self = f[0] // go list -deps prints the package itself last
	}
	if len(graph) == 0 {
		t.Fatal("go list -deps printed nothing")
	}
	return self, graph
}

// chain is a shortest import path from from to to.
func chain(graph map[string][]string, from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == to {
			var path []string
			for ; p != ""; p = prev[p] {
				path = append(path, p)
			}
			slices.Reverse(path)
			return path
		}
		for _, q := range graph[p] {
			if _, seen := prev[q]; !seen {
				prev[q] = p
				queue = append(queue, q)
			}
		}
	}
	return []string{from, "...", to}
}
