package deptest

import "testing"

func TestForbidden(t *testing.T) {
	for dep, want := range map[string]bool{
		"net": true, "net/http": true, "crypto/tls": true, "database/sql": true, "database/sql/driver": true,
		"go.etcd.io/etcd/client/v3": true, "github.com/go-mysql-org/go-mysql/replication": true,
		"github.com/go-sql-driver/mysql": true, "github.com/spf13/cobra": true,
		"net/netip": false, "net/url": false, "netx": false, "database/sqlx": false, "strings": false,
		"github.com/dmplan/dmplan/spec": false, "go.yaml.in/yaml/v3": false,
	} {
		if got := forbidden(dep); got != want {
			t.Errorf("forbidden(%q) = %v, want %v", dep, got, want)
		}
	}
}

func TestChain(t *testing.T) {
	g := map[string][]string{"a": {"b", "c"}, "b": {"d"}, "c": {"b"}, "d": nil}
	if got := chain(g, "a", "d"); len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "d" {
		t.Errorf("chain a->d = %v, want [a b d]", got)
	}
}

// TestSelf: deptest itself is pure (it runs the go command, which is not
// the network) and reads the real import graph.
func TestSelf(t *testing.T) {
	Pure(t)
	self, graph := load(t)
	if self != "github.com/dmplan/dmplan/internal/deptest" || len(graph["os/exec"]) == 0 {
		t.Errorf("load: self %q, os/exec imports %v", self, graph["os/exec"])
	}
}
