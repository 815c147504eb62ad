package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/dmplan/dmplan/internal/mariadbtest"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/spec"
)

// `dmplan up`: embedded etcd, an agent named local, an apply; the source
// is bound to the local agent and replicates; SIGTERM ends it cleanly.
func TestUp(t *testing.T) {
	dir := t.TempDir()
	port, err := mariadbtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	endpoints := fmt.Sprintf("127.0.0.1:%d", port)
	c := &cluster{t: t, dir: dir, env: map[string]string{}}
	d := newDataset(t, c, "up", 2000)
	yaml := filepath.Join(dir, "yaml")
	os.MkdirAll(yaml, 0o755)
	os.WriteFile(filepath.Join(yaml, "all.yaml"), []byte(d.sourceYAML()+"---\n"+d.taskYAML("running")), 0o644)

	// Without a terminal and without --auto-approve, up refuses.
	cmd := exec.Command(dmplanBin, "up", "-f", yaml, "--data-dir", filepath.Join(dir, "etcd"), "--endpoints", endpoints)
	cmd.Env = c.environ()
	cmd.Stdin = strings.NewReader("yes\n") // a pipe, not a terminal
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--auto-approve") {
		t.Fatalf("up without a terminal: %v\n%s", err, out)
	}

	logPath := filepath.Join(dir, "up.log")
	f, _ := os.Create(logPath)
	cmd = exec.Command(dmplanBin, "up", "-f", yaml, "--data-dir", filepath.Join(dir, "etcd"), "--endpoints", endpoints,
		"--auto-approve", "--log-format", "json")
	cmd.Env, cmd.Stdout, cmd.Stderr = c.environ(), f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); f.Close() }()
	defer func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("up log:\n%s", tail(logPath, 4000))
		}
	}()

	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoints}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	st := store.New(cli)
	waitFor(t, 60*time.Second, "up's subtask to sync on agent local", func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		sts, err := st.Statuses(ctx)
		return len(sts) == 1 && sts[0].Worker == "local" && sts[0].Stage == spec.StageRunning && sts[0].Unit == "sync", err
	})
	d.exec(d.src, "INSERT INTO `"+d.db+"`.t2 VALUES (4242, 'via up')")
	d.waitEqual(30 * time.Second)

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("up exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("up did not exit within 30s of SIGTERM")
	}
	if b, _ := os.ReadFile(logPath); strings.Contains(string(b), c.env[d.srcPWVar]) || strings.Contains(string(b), c.env[d.tgtPWVar]) {
		t.Fatal("a password is in up's output")
	}
}
