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

// proc is a dmplan child process.
type proc struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

// cluster is one test's control plane: a `dmplan server` process, agents
// as child processes, a folder of YAML, and an etcd client for polling.
type cluster struct {
	t         *testing.T
	dir       string
	endpoints string
	flags     []string          // global flags every dmplan command gets (etcd TLS, user)
	env       map[string]string // passwords, as apply and the agents' env file see them
	server    *proc
	agents    map[string]*proc
	cli       *clientv3.Client
	st        *store.Store
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	port, err := mariadbtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{
		t: t, dir: t.TempDir(), endpoints: fmt.Sprintf("127.0.0.1:%d", port),
		env: map[string]string{}, agents: map[string]*proc{},
	}
	if err := os.MkdirAll(filepath.Join(c.dir, "yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	c.startServer()
	c.cli, err = clientv3.New(clientv3.Config{Endpoints: []string{c.endpoints}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	c.st = store.New(c.cli)
	t.Cleanup(func() {
		for _, a := range c.agents {
			a.stop(10 * time.Second)
		}
		c.cli.Close()
		c.server.stop(20 * time.Second)
		if t.Failed() || os.Getenv("DMPLAN_E2E_LOGS") == "1" {
			for _, p := range append(c.procs(), c.server) {
				t.Logf("---- %s log (tail):\n%s", p.name, tail(p.log, 3000))
			}
		}
	})
	return c
}

func (c *cluster) procs() []*proc {
	var out []*proc
	for _, a := range c.agents {
		out = append(out, a)
	}
	return out
}

// start runs dmplan with args; its output goes to a log file.
func (c *cluster) start(name string, args ...string) *proc {
	c.t.Helper()
	return c.startAt(name, c.endpoints, args...)
}

// startAt is start with other etcd endpoints (through a fault proxy).
func (c *cluster) startAt(name, endpoints string, args ...string) *proc {
	c.t.Helper()
	logPath := filepath.Join(c.dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(dmplanBin, append(append(append([]string(nil), args...), "--log-format", "json", "--endpoints", endpoints), c.flags...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = c.environ()
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	p := &proc{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	return p
}

// args is args with the endpoints and the global flags.
func (c *cluster) args(args ...string) []string {
	return append(append(append([]string(nil), args...), "--endpoints", c.endpoints), c.flags...)
}

func (c *cluster) environ() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + c.dir}
	for k, v := range c.env {
		env = append(env, k+"="+v)
	}
	return env
}

func (c *cluster) startServer() {
	c.t.Helper()
	c.server = c.start("server", "server", "--data-dir", filepath.Join(c.dir, "etcd"),
		"--listen", c.endpoints, "--peer-listen", "127.0.0.1:0")
	waitFor(c.t, 30*time.Second, "dmplan server to listen", func() (bool, error) {
		select {
		case <-c.server.done:
			c.t.Fatalf("dmplan server exited:\n%s", tail(c.server.log, 2000))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{c.endpoints}, DialTimeout: time.Second, Logger: zap.NewNop()})
		if err != nil {
			return false, err
		}
		defer cli.Close()
		_, err = cli.Get(ctx, "/")
		return err == nil, err
	})
}

// writeEnvFile writes the agents' --env-file with the current passwords.
func (c *cluster) writeEnvFile() string {
	c.t.Helper()
	path := filepath.Join(c.dir, "agents.env")
	var b strings.Builder
	for k, v := range c.env {
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		c.t.Fatal(err)
	}
	return path
}

// startAgent runs `dmplan agent --name name` with the env file.
func (c *cluster) startAgent(name string, extra ...string) *proc {
	c.t.Helper()
	return c.startAgentAt(name, c.endpoints, extra...)
}

// startAgentAt is startAgent with other etcd endpoints.
func (c *cluster) startAgentAt(name, endpoints string, extra ...string) *proc {
	c.t.Helper()
	env := c.writeEnvFile()
	args := append([]string{"agent", "--name", name, "--lease-ttl", "2s", "--env-file", env}, extra...)
	p := c.startAt("agent-"+name, endpoints, args...)
	c.agents[name] = p
	return p
}

// stop sends SIGTERM and waits (SIGKILL after d).
func (p *proc) stop(d time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(d):
		p.kill()
	}
}

// kill is kill -9.
func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// writeYAML replaces the desired state folder's file name with body.
func (c *cluster) writeYAML(name, body string) {
	c.t.Helper()
	if err := os.WriteFile(filepath.Join(c.dir, "yaml", name), []byte(body), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) removeYAML(name string) {
	c.t.Helper()
	if err := os.Remove(filepath.Join(c.dir, "yaml", name)); err != nil {
		c.t.Fatal(err)
	}
}

// dmplan runs a dmplan command to completion and returns its output.
func (c *cluster) dmplan(args ...string) string {
	c.t.Helper()
	cmd := exec.Command(dmplanBin, c.args(args...)...)
	cmd.Env = c.environ()
	out, err := cmd.CombinedOutput()
	if err != nil {
		c.t.Fatalf("dmplan %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// apply applies the YAML folder; stale plans (a failover moved a source
// meanwhile) are retried.
func (c *cluster) apply() {
	c.t.Helper()
	for attempt := 0; ; attempt++ {
		cmd := exec.Command(dmplanBin, c.args("apply", "-f", filepath.Join(c.dir, "yaml"), "--auto-approve")...)
		cmd.Env = c.environ()
		out, err := cmd.CombinedOutput()
		if err == nil {
			return
		}
		if attempt < 3 && strings.Contains(string(out), "stale") {
			continue
		}
		c.t.Fatalf("dmplan apply: %v\n%s", err, out)
	}
}

// status returns the observed status of task/source (ok false when no
// agent reports it).
func (c *cluster) status(task, source string) (store.SubtaskStatus, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	sts, err := c.st.Statuses(ctx)
	if err != nil {
		return store.SubtaskStatus{}, false, err
	}
	for _, s := range sts {
		if s.Task == task && s.Source == source {
			return s, true, nil
		}
	}
	return store.SubtaskStatus{}, false, nil
}

// waitStage waits until task/source is observed in stage (and, when
// worker is not empty, on that worker) and returns its status.
func (c *cluster) waitStage(d time.Duration, task, source string, stage spec.Stage, cond func(store.SubtaskStatus) bool) (store.SubtaskStatus, time.Duration) {
	c.t.Helper()
	var st store.SubtaskStatus
	took := waitFor(c.t, d, fmt.Sprintf("%s/%s observed %s", task, source, stage), func() (bool, error) {
		s, ok, err := c.status(task, source)
		if err != nil || !ok {
			return false, err
		}
		st = s
		return s.Stage == stage && (cond == nil || cond(s)), nil
	})
	return st, took
}
