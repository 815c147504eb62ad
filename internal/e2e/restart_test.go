package e2e

import (
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/spec"
)

// An agent restarted cleanly hands its source over at once; `dmplan
// server` restarted under running agents loses nothing: the agents keep
// (or regain) their registrations and the target ends equal to the source.
func TestAgentAndServerRestart(t *testing.T) {
	c := newCluster(t)
	d := newDataset(t, c, "restart", 20000)
	c.startAgent("a")
	c.startAgent("b")
	waitWorkers(c, 2)
	w := d.startWriter(150)
	c.writeYAML("source.yaml", d.sourceYAML())
	c.writeYAML("task.yaml", d.taskYAML("running"))
	c.apply()
	st, _ := c.waitStage(60*time.Second, "restart", "src-restart", spec.StageRunning, syncing(""))
	first := st.Worker

	// Clean restart (SIGTERM): the agent revokes its lease, so the other
	// agent takes the source without waiting for a TTL.
	stopped := time.Now()
	c.agents[first].stop(20 * time.Second)
	st, _ = c.waitStage(30*time.Second, "restart", "src-restart", spec.StageRunning, func(s store.SubtaskStatus) bool {
		return s.Worker != first && s.Unit == "sync"
	})
	t.Logf("agent %s stopped cleanly -> source syncing on %s after %s", first, st.Worker, time.Since(stopped))
	c.startAgent(first)
	waitWorkers(c, 2)
	ops := w.ops.Load()
	waitFor(t, 10*time.Second, "more writes", func() (bool, error) { return w.ops.Load() > ops+50, nil })

	// dmplan server restarted under the running agents.
	c.server.stop(30 * time.Second)
	c.startServer()
	waitWorkers(c, 2)
	ops = w.ops.Load()
	waitFor(t, 10*time.Second, "more writes", func() (bool, error) { return w.ops.Load() > ops+50, nil })
	st, _ = c.waitStage(60*time.Second, "restart", "src-restart", spec.StageRunning, syncing(""))
	t.Logf("after the server restart the source syncs on %s", st.Worker)

	n := w.halt(t)
	took := d.waitEqual(60 * time.Second)
	t.Logf("%d concurrent writes; target equal to the source %s after the writer stopped", n, took)
}
