package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/spec"
)

// incrementalTaskYAML is the dataset's Task in mode incremental, with no
// spec.start: the target already holds the source's rows (fill).
func (d *dataset) incrementalTaskYAML(stage, extra string) string {
	return strings.Replace(d.taskYAMLWith(stage, extra), "mode: all", "mode: incremental", 1)
}

// pinned: the subtask reports a resolved start position.
func pinned(s store.SubtaskStatus) bool { return s.BinlogFile != "" && s.GTID != "" }

// changeRows makes at least n row changes on the source, in many
// transactions (bulk updates of t1 and the random writer).
func (d *dataset) changeRows(t *testing.T, n int) {
	t.Helper()
	for done := 0; done < n; done += 5000 {
		d.exec(d.src, fmt.Sprintf("UPDATE `%s`.t1 SET k = k + 1, c = CONCAT('x', c) WHERE id %% 4 = %d", d.db, done/5000%4))
	}
	w := d.startWriter(400)
	waitFor(t, 30*time.Second, "random writes", func() (bool, error) { return w.ops.Load() >= 200, nil })
	w.halt(t)
}

// A new incremental subtask starts at the source's position when an agent
// first takes it, whatever its stage: created paused, or stopped, the
// changes made before it is resumed all arrive; an agent restarted in
// between keeps the recorded start. `plan` says where the subtasks start.
func TestIncrementalStartPinnedAtCreation(t *testing.T) {
	c := newCluster(t)
	const rows = 20000
	paused := newDataset(t, c, "pin-paused", rows)
	stopped := newDataset(t, c, "pin-stopped", rows)
	restarted := newDataset(t, c, "pin-restart", rows)
	c.startAgent("a") // after the datasets: its env file holds their passwords
	waitWorkers(c, 1)
	sets := []*dataset{paused, stopped, restarted}
	stage := map[*dataset]string{paused: "paused", stopped: "stopped", restarted: "paused"}
	for _, d := range sets {
		d.fill(d.tgt, rows)
		c.writeYAML("source-"+d.name+".yaml", d.sourceYAML())
		c.writeYAML("task-"+d.name+".yaml", d.incrementalTaskYAML(stage[d], ""))
	}
	plan := c.dmplan("plan", "-f", c.dir+"/yaml")
	for _, want := range []string{
		"starting at the source's position when an agent first takes it",
		"its start position is recorded as soon as an agent takes it",
	} {
		if !strings.Contains(plan, want) {
			t.Fatalf("plan does not say %q:\n%s", want, plan)
		}
	}
	c.apply()
	at := map[*dataset]store.SubtaskStatus{}
	for _, d := range sets {
		at[d], _ = c.waitStage(60*time.Second, d.name, "src-"+d.name, spec.Stage(stage[d]), pinned)
		t.Logf("%s created %s, start recorded at %s:%d (gtid %s)", d.name, stage[d], at[d].BinlogFile, at[d].BinlogPos, at[d].GTID)
	}
	out := c.dmplan("status")
	if !strings.Contains(out, at[paused].GTID) {
		t.Errorf("status does not show the recorded start %s:\n%s", at[paused].GTID, out)
	}

	// Changes while idle, then resume the first two.
	for _, d := range sets {
		d.changeRows(t, 20000)
	}
	for _, d := range []*dataset{paused, stopped} {
		c.writeYAML("task-"+d.name+".yaml", d.incrementalTaskYAML("running", ""))
	}
	c.apply()
	for _, d := range []*dataset{paused, stopped} {
		took := d.waitEqual(120 * time.Second)
		t.Logf("%s: resumed, target equal to the source after %s", d.name, took)
	}

	// The agent restarts while the third is still paused: the recorded
	// start stays, more changes are made, then it resumes.
	c.agents["a"].stop(20 * time.Second)
	restarted.changeRows(t, 5000)
	c.startAgent("a")
	waitWorkers(c, 1)
	again, _ := c.waitStage(60*time.Second, restarted.name, "src-"+restarted.name, spec.StagePaused, pinned)
	if again.BinlogFile != at[restarted].BinlogFile || again.BinlogPos != at[restarted].BinlogPos || again.GTID != at[restarted].GTID {
		t.Fatalf("after the agent restarted the start moved: %s:%d (%s), was %s:%d (%s)",
			again.BinlogFile, again.BinlogPos, again.GTID, at[restarted].BinlogFile, at[restarted].BinlogPos, at[restarted].GTID)
	}
	c.writeYAML("task-"+restarted.name+".yaml", restarted.incrementalTaskYAML("running", ""))
	c.apply()
	took := restarted.waitEqual(120 * time.Second)
	t.Logf("%s: resumed after an agent restart, target equal to the source after %s", restarted.name, took)
}
