package e2e

import (
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/spec"
)

// kill -9 of the agent serving a source during its dump, during its load
// and during its sync: each time another agent takes over from the
// checkpoint in the target, and the target ends identical to the source.
// The agents run with the default lease TTL (5s), so the failover times
// logged are the real ones.
func TestFailoverDumpLoadSync(t *testing.T) {
	const rows = 300000
	c := newCluster(t)
	d := newDataset(t, c, "failover", rows)
	for _, name := range []string{"a", "b", "c"} {
		c.startAgent(name, "--lease-ttl", "5s")
	}
	waitWorkers(c, 3)
	w := d.startWriter(100)
	c.writeYAML("source.yaml", d.sourceYAML())
	c.writeYAML("task.yaml", d.taskYAML("running"))
	c.apply()

	// Dump: the first status with unit dump, or load before a quarter of
	// the rows (dump and load stream together: the dump unit reads while
	// the load unit writes).
	st, _ := c.waitStage(30*time.Second, "failover", "src-failover", spec.StageRunning, func(s store.SubtaskStatus) bool {
		return s.Unit == "dump" || (s.Unit == "load" && s.Progress.RowsDone < rows/4)
	})
	first := st.Worker
	c.agents[first].kill()
	t.Logf("killed agent %s during %s (%d of ~%d rows loaded)", first, st.Unit, st.Progress.RowsDone, rows)

	// Load, on the agent that took over.
	st, took := c.waitStage(60*time.Second, "failover", "src-failover", spec.StageRunning, func(s store.SubtaskStatus) bool {
		return s.Worker != first && (s.Unit == "sync" || (s.Unit == "load" && s.Progress.RowsDone >= rows/5))
	})
	t.Logf("agent %s took over; %s after the kill it had loaded %d rows", st.Worker, took, st.Progress.RowsDone)
	// It comes back once another agent holds the source: an agent that
	// re-registers before its death is noticed keeps its bound, and the
	// test wants a takeover.
	c.startAgent(first, "--lease-ttl", "5s")
	second := st.Worker
	c.agents[second].kill()
	if st.Unit == "load" {
		t.Logf("killed agent %s during load (%d of ~%d rows loaded)", second, st.Progress.RowsDone, rows)
	} else {
		t.Logf("killed agent %s during %s: the load was over before the test could catch it", second, st.Unit)
	}

	// Sync, on the third agent to serve it.
	st, _ = c.waitStage(90*time.Second, "failover", "src-failover", spec.StageRunning, func(s store.SubtaskStatus) bool {
		return s.Worker != second && s.Unit == "sync"
	})
	c.startAgent(second, "--lease-ttl", "5s")
	third := st.Worker
	killed := time.Now()
	c.agents[third].kill()
	st, _ = c.waitStage(30*time.Second, "failover", "src-failover", spec.StageRunning, func(s store.SubtaskStatus) bool {
		return s.Worker != third && s.Unit == "sync"
	})
	t.Logf("FIGURE agent %s killed during sync -> source syncing on %s after %s (lease TTL 5s)", third, st.Worker, time.Since(killed))
	c.startAgent(third, "--lease-ttl", "5s")

	n := w.halt(t)
	took = d.waitEqual(60 * time.Second)
	t.Logf("%d concurrent writes; target equal to the source %s after the writer stopped", n, took)
}
