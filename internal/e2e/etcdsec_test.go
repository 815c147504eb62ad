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

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/dmplan/dmplan/internal/mariadbtest"
	"github.com/dmplan/dmplan/internal/testcerts"
	"github.com/dmplan/dmplan/spec"
)

// run runs dmplan with args as they are (no cluster flags added) and
// returns its combined output and error.
func (c *cluster) run(args ...string) (string, error) {
	cmd := exec.Command(dmplanBin, args...)
	cmd.Env = c.environ()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// syncSmallTask applies a small mode-all task and waits until the target
// equals the source under writes: the whole path works with c's flags.
func syncSmallTask(t *testing.T, c *cluster, name string) {
	t.Helper()
	d := newDataset(t, c, name, 2000)
	c.startAgent("a")
	waitWorkers(c, 1)
	w := d.startWriter(50)
	c.writeYAML("source.yaml", d.sourceYAML())
	c.writeYAML("task.yaml", d.taskYAML("running"))
	c.apply()
	c.waitStage(60*time.Second, name, "src-"+name, spec.StageRunning, syncing("a"))
	w.halt(t)
	d.waitEqual(60 * time.Second)
	if out := c.dmplan("status"); !strings.Contains(out, name) {
		t.Fatalf("status does not show task %s:\n%s", name, out)
	}
}

// `dmplan server` serving clients over TLS with client certificates: the
// agent and the CLI with the CA's certificate work end to end; without a
// certificate, or with another CA's, they are refused with a clear error.
func TestEtcdClientCertificates(t *testing.T) {
	c := bareCluster(t)
	ca, err := testcerts.NewCA(c.dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Issue("server")
	if err != nil {
		t.Fatal(err)
	}
	agent, err := ca.Issue("agent")
	if err != nil {
		t.Fatal(err)
	}
	other, err := testcerts.NewCA(t.TempDir(), "other")
	if err != nil {
		t.Fatal(err)
	}
	intruder, err := other.Issue("intruder")
	if err != nil {
		t.Fatal(err)
	}
	port, err := mariadbtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ep := fmt.Sprintf("127.0.0.1:%d", port)
	c.endpoints = ep
	server := c.start("server", "server", "--data-dir", filepath.Join(c.dir, "etcd"), "--listen", ep, "--peer-listen", "127.0.0.1:0",
		"--cert-file", srv.CertFile, "--key-file", srv.KeyFile, "--trusted-ca-file", ca.CAFile, "--client-cert-auth")
	tc, err := transport.TLSInfo{CertFile: agent.CertFile, KeyFile: agent.KeyFile, TrustedCAFile: ca.CAFile}.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	c.flags = []string{"--cacert", ca.CAFile, "--cert", agent.CertFile, "--key", agent.KeyFile}
	c.connect([]string{ep}, clientv3.Config{TLS: tc}, server)
	syncSmallTask(t, c, "tls")

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no certificate", []string{"--cacert", ca.CAFile}},
		{"another CA's certificate", []string{"--cacert", ca.CAFile, "--cert", intruder.CertFile, "--key", intruder.KeyFile}},
		{"plain text", nil},
		{"a CA that did not sign the server", []string{"--cacert", other.CAFile, "--cert", agent.CertFile, "--key", agent.KeyFile}},
	} {
		out, err := c.run(append([]string{"status", "--endpoints", ep, "--dial-timeout", "2s"}, tc.args...)...)
		if err == nil {
			t.Fatalf("status with %s succeeded:\n%s", tc.name, out)
		}
		if !strings.Contains(out, "cannot reach etcd at "+ep) || !strings.Contains(out, "TLS") {
			t.Errorf("status with %s: error does not name the endpoint and TLS:\n%s", tc.name, out)
		}
		t.Logf("status with %s: %s", tc.name, strings.TrimSpace(out))
	}
}

// An external etcd (Debian's etcd-server 3.4) with auth on: dmplan runs
// end to end as a user whose role is limited to dmplan's key prefix; a
// user with a role elsewhere is refused.
func TestExternalEtcd34PrefixRole(t *testing.T) {
	bin := "/usr/bin/etcd"
	if _, err := os.Stat(bin); err != nil {
		t.Skip("etcd-server is not installed (scripts/install-deps.sh installs it)")
	}
	c := bareCluster(t)
	cp, err1 := mariadbtest.FreePort()
	pp, err2 := mariadbtest.FreePort()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	curl, purl := fmt.Sprintf("http://127.0.0.1:%d", cp), fmt.Sprintf("http://127.0.0.1:%d", pp)
	logPath := filepath.Join(c.dir, "etcd34.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--name", "e1", "--data-dir", filepath.Join(c.dir, "etcd34"),
		"--listen-client-urls", curl, "--advertise-client-urls", curl,
		"--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl, "--initial-cluster", "e1="+purl)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	etcd := &proc{name: "etcd-3.4", log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(etcd.done) }()
	ep := strings.TrimPrefix(curl, "http://")

	// As root, before auth is on: a role on /dmplan/ only, a user with it,
	// and a user with a role elsewhere.
	root, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	waitFor(t, 30*time.Second, "etcd 3.4 to answer", func() (bool, error) {
		_, err := root.Get(ctx, "/")
		return err == nil, err
	})
	v, err := root.Status(ctx, ep)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("external etcd version %s", v.Version)
	steps := []func() error{
		func() error { _, err := root.UserAdd(ctx, "root", "root-pw"); return err },
		func() error { _, err := root.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := root.RoleAdd(ctx, "dmplan"); return err },
		func() error {
			_, err := root.RoleGrantPermission(ctx, "dmplan", "/dmplan/", clientv3.GetPrefixRangeEnd("/dmplan/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := root.UserAdd(ctx, "dmplan", "dmplan-pw"); return err },
		func() error { _, err := root.UserGrantRole(ctx, "dmplan", "dmplan"); return err },
		func() error { _, err := root.RoleAdd(ctx, "other"); return err },
		func() error {
			_, err := root.RoleGrantPermission(ctx, "other", "/other/", clientv3.GetPrefixRangeEnd("/other/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := root.UserAdd(ctx, "other", "other-pw"); return err },
		func() error { _, err := root.UserGrantRole(ctx, "other", "other"); return err },
		func() error { _, err := root.AuthEnable(ctx); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("auth set-up step %d: %v", i, err)
		}
	}

	c.env["DMPLAN_ETCD_PASSWORD"] = "dmplan-pw"
	c.flags = []string{"--user", "dmplan"}
	c.connect([]string{ep}, clientv3.Config{Username: "dmplan", Password: "dmplan-pw"}, etcd)
	syncSmallTask(t, c, "ext34")

	c.env["DMPLAN_ETCD_PASSWORD"] = "other-pw"
	out, err := c.run("status", "--endpoints", ep, "--user", "other")
	if err == nil {
		t.Fatalf("status as a user without dmplan's prefix succeeded:\n%s", out)
	}
	if !strings.Contains(out, "permission denied") {
		t.Errorf("status as another user: %s", out)
	}
	if strings.Contains(out, "other-pw") {
		t.Errorf("the etcd password appears in the error: %s", out)
	}
	c.env["DMPLAN_ETCD_PASSWORD"] = "dmplan-pw"
}
