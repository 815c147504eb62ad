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

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/dmplan/dmplan/internal/mariadbtest"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/spec"
)

// member is one `dmplan server` process of a control plane of several.
type member struct {
	name, client, peer string
	args               []string // to restart it as it was
	proc               *proc
}

// bareCluster is a cluster with no control plane yet: start its servers
// with c.start, then connect.
func bareCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir(), env: map[string]string{}, agents: map[string]*proc{}}
	if err := os.MkdirAll(filepath.Join(c.dir, "yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	return c
}

// connect points the cluster at eps (with cfg's TLS and auth), waits
// until etcd answers, and stops the agents at the test's end. Servers
// started before connect stop after the agents.
func (c *cluster) connect(eps []string, cfg clientv3.Config, servers ...*proc) {
	t := c.t
	t.Helper()
	c.endpoints = strings.Join(eps, ",")
	cfg.Endpoints, cfg.DialTimeout, cfg.Logger = eps, 5*time.Second, zap.NewNop()
	var err error
	if c.cli, err = clientv3.New(cfg); err != nil {
		t.Fatal(err)
	}
	c.st = store.New(c.cli)
	t.Cleanup(func() {
		for _, a := range c.agents {
			a.stop(10 * time.Second)
		}
		c.cli.Close()
		for _, s := range servers {
			s.stop(20 * time.Second)
		}
		if t.Failed() || os.Getenv("DMPLAN_E2E_LOGS") == "1" {
			for _, p := range append(c.procs(), servers...) {
				t.Logf("---- %s log (tail):\n%s", p.name, tail(p.log, 3000))
			}
		}
	})
	waitFor(t, 60*time.Second, "etcd to answer at "+c.endpoints, func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := c.cli.Get(ctx, "/dmplan/")
		return err == nil, err
	})
}

// newHACluster is newCluster with a control plane of n `dmplan server`
// processes forming one etcd cluster; every command gets all endpoints.
func newHACluster(t *testing.T, n int) (*cluster, []*member) {
	t.Helper()
	c := bareCluster(t)
	var ms []*member
	var ic, eps []string
	for i := 1; i <= n; i++ {
		cp, err1 := mariadbtest.FreePort()
		pp, err2 := mariadbtest.FreePort()
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		m := &member{name: fmt.Sprintf("m%d", i), client: fmt.Sprintf("127.0.0.1:%d", cp), peer: fmt.Sprintf("127.0.0.1:%d", pp)}
		ms = append(ms, m)
		ic = append(ic, m.name+"=http://"+m.peer)
		eps = append(eps, m.client)
	}
	c.endpoints = strings.Join(eps, ",")
	for _, m := range ms {
		m.args = []string{"server", "--name", m.name, "--data-dir", filepath.Join(c.dir, "etcd-"+m.name),
			"--listen", m.client, "--peer-listen", m.peer, "--initial-cluster", strings.Join(ic, ",")}
		m.proc = c.start("server-"+m.name, m.args...)
	}
	c.server = ms[0].proc
	// Members restarted by the test replace m.proc: stop whatever runs.
	t.Cleanup(func() {
		for _, m := range ms {
			m.proc.stop(20 * time.Second)
		}
	})
	c.connect(eps, clientv3.Config{})
	return c, ms
}

// leader returns the member that leads the etcd cluster now.
func leader(t *testing.T, c *cluster, ms []*member) *member {
	t.Helper()
	var l *member
	waitFor(t, 30*time.Second, "an etcd leader", func() (bool, error) {
		for _, m := range ms {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := c.cli.Status(ctx, m.client)
			cancel()
			if err != nil || st.Leader == 0 {
				continue
			}
			for _, o := range ms {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				ost, err := c.cli.Status(ctx, o.client)
				cancel()
				if err == nil && ost.Header.MemberId == st.Leader {
					l = o
					return true, nil
				}
			}
		}
		return false, nil
	})
	return l
}

// A control plane of three `dmplan server` processes: kill -9 of the etcd
// leader during an apply (the apply lands whole or not at all, and says
// which), and during sync (the agents keep their units or take them over
// within the failover bound); the killed member restarts and rejoins.
func TestControlPlaneOfThree(t *testing.T) {
	c, ms := newHACluster(t, 3)
	d := newDataset(t, c, "ha", 5000)
	c.startAgent("a")
	c.startAgent("b")
	waitWorkers(c, 2)
	w := d.startWriter(100)
	c.writeYAML("source.yaml", d.sourceYAML())
	c.writeYAML("task.yaml", d.taskYAML("running"))
	c.apply()
	c.waitStage(60*time.Second, "ha", "src-ha", spec.StageRunning, syncing(""))

	// Kill the leader while an apply (pause the task) is in flight.
	l := leader(t, c, ms)
	c.writeYAML("task.yaml", d.taskYAML("paused"))
	cmd := exec.Command(dmplanBin, c.args("apply", "-f", filepath.Join(c.dir, "yaml"), "--auto-approve")...)
	cmd.Env = c.environ()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond) // the apply is connecting or writing
	l.proc.kill()
	t.Logf("killed etcd leader %s during an apply", l.name)
	applyErr := cmd.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var snap *store.Snapshot
	waitFor(t, 30*time.Second, "the state to be readable from the two survivors", func() (bool, error) {
		var err error
		snap, err = c.st.Read(ctx)
		return err == nil, err
	})
	stage := snap.State.Tasks["ha"].Stage
	t.Logf("apply during the leader's death: err=%v stage now %q; output:\n%s", applyErr, stage, out.String())
	if applyErr == nil && stage != spec.StagePaused {
		t.Fatalf("apply said it succeeded but the stage is %q", stage)
	}
	if applyErr != nil && stage == spec.StagePaused && !strings.Contains(out.String(), "landed") {
		t.Fatalf("apply failed but its change landed, and it did not say so:\n%s", out.String())
	}
	// Whatever happened, applying again converges (it is idempotent).
	c.apply()
	c.waitStage(30*time.Second, "ha", "src-ha", spec.StagePaused, nil)

	// Restart the dead member: it rejoins with its data.
	l.proc = c.start("server-"+l.name+"-2", l.args...)
	c.writeYAML("task.yaml", d.taskYAML("running"))
	c.apply()
	st, _ := c.waitStage(60*time.Second, "ha", "src-ha", spec.StageRunning, syncing(""))

	// Kill the (possibly new) leader during sync: the units keep running
	// or move within the failover bound; no agent loses its lease for good.
	l = leader(t, c, ms)
	killed := time.Now()
	l.proc.kill()
	t.Logf("killed etcd leader %s during sync (subtask on agent %s)", l.name, st.Worker)
	st, took := c.waitStage(30*time.Second, "ha", "src-ha", spec.StageRunning, func(s store.SubtaskStatus) bool {
		return s.Unit == "sync" && s.UpdatedAt.After(killed)
	})
	t.Logf("FIGURE etcd leader killed during sync -> subtask reported syncing on %s %s later", st.Worker, took)
	n := w.halt(t)
	took = d.waitEqual(60 * time.Second)
	t.Logf("%d writes; target equal to the source %s after the writer stopped", n, took)
	l.proc = c.start("server-"+l.name+"-3", l.args...)
}
