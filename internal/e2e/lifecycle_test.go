package e2e

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/spec"
)

func waitWorkers(c *cluster, n int) {
	c.t.Helper()
	waitFor(c.t, 30*time.Second, "agents to register", func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		ws, err := c.st.Workers(ctx)
		return len(ws) == n, err
	})
}

func syncing(worker string) func(store.SubtaskStatus) bool {
	return func(s store.SubtaskStatus) bool {
		return s.Unit == "sync" && (worker == "" || s.Worker == worker)
	}
}

// Mode all under concurrent writes; pause and resume through YAML; the
// task removed from YAML stops its units.
func TestModeAllPauseResumeRemove(t *testing.T) {
	c := newCluster(t)
	d := newDataset(t, c, "basic", 20000)
	c.startAgent("a", "--metrics-addr", "127.0.0.1:0")
	waitWorkers(c, 1)
	w := d.startWriter(200)

	c.writeYAML("source.yaml", d.sourceYAML())
	c.writeYAML("task.yaml", d.taskYAML("running"))
	start := time.Now()
	c.apply()
	applied := time.Since(start)
	_, took := c.waitStage(30*time.Second, "basic", "src-basic", spec.StageRunning, func(s store.SubtaskStatus) bool { return s.Worker == "a" })
	t.Logf("FIGURE apply -> observed running: %s after the apply command returned (the apply process took %s)", took, applied)
	c.waitStage(60*time.Second, "basic", "src-basic", spec.StageRunning, syncing("a"))

	// dmplan status -o json shows desired against observed.
	var view struct {
		Subtasks []struct {
			Task, Source, Worker, DesiredStage, Stage, Unit string
		}
	}
	if err := json.Unmarshal([]byte(c.dmplan("status", "-o", "json")), &view); err != nil {
		t.Fatal(err)
	}
	if len(view.Subtasks) != 1 || view.Subtasks[0].Worker != "a" || view.Subtasks[0].DesiredStage != "running" ||
		view.Subtasks[0].Stage != "running" || view.Subtasks[0].Unit != "sync" {
		t.Fatalf("status -o json subtasks = %+v", view.Subtasks)
	}

	// Tuning (sync batch): carried out as a restart from the
	// checkpoint; replication resumes on a new binlog connection.
	reader, err := d.binlogReader()
	if err != nil || reader == 0 {
		t.Fatalf("no binlog reader on the source (%d, %v)", reader, err)
	}
	c.writeYAML("task.yaml", d.taskYAMLWith("running", "  sync:\n    workers: 4\n    batch: 200\n"))
	c.apply()
	took = waitFor(t, 10*time.Second, "a new binlog reader with the new tuning", func() (bool, error) {
		id, err := d.binlogReader()
		return id != 0 && id != reader, err
	})
	t.Logf("FIGURE sync tuning applied -> replication resumed from the checkpoint on a new binlog connection after %s", took)

	// Paused in YAML: the units stop (no connection of dmplan's user on
	// the source), and the source's writes stop arriving.
	c.writeYAML("task.yaml", d.taskYAML("paused"))
	c.apply()
	c.waitStage(10*time.Second, "basic", "src-basic", spec.StagePaused, nil)
	waitFor(t, 10*time.Second, "the units' source connections to close", func() (bool, error) {
		n, err := d.sourceConns()
		return n == 0, err
	})
	before, err := d.fingerprint(d.tgt)
	if err != nil {
		t.Fatal(err)
	}
	ops := w.ops.Load()
	waitFor(t, 10*time.Second, "100 more writes on the source", func() (bool, error) { return w.ops.Load() >= ops+100, nil })
	if after, err := d.fingerprint(d.tgt); err != nil || after != before {
		t.Fatalf("the target changed while paused: %s -> %s (%v)", before, after, err)
	}

	// Running again: the writes arrive.
	c.writeYAML("task.yaml", d.taskYAML("running"))
	c.apply()
	c.waitStage(30*time.Second, "basic", "src-basic", spec.StageRunning, syncing("a"))
	waitFor(t, 30*time.Second, "writes made while paused to arrive", func() (bool, error) {
		after, err := d.fingerprint(d.tgt)
		return err == nil && after != before, err
	})
	w.halt(t)
	took = d.waitEqual(60 * time.Second)
	t.Logf("writer stopped -> target equal to source in %s", took)

	// The task is removed from YAML: its units stop and its status goes.
	c.removeYAML("task.yaml")
	c.apply()
	waitFor(t, 10*time.Second, "the removed task's status to go and its units to stop", func() (bool, error) {
		_, ok, err := c.status("basic", "src-basic")
		if err != nil || ok {
			return false, err
		}
		n, err := d.sourceConns()
		return n == 0, err
	})
	// Nothing reads the source for this task any more: a new row stays
	// on the source (the agent holds no connection that could carry it).
	d.exec(d.src, "INSERT INTO `"+d.db+"`.t2 VALUES (100000, 'after removal')")
	var n int
	if err := d.tgt.QueryRow("SELECT COUNT(*) FROM `" + d.db + "`.t2 WHERE id = 100000").Scan(&n); err != nil || n != 0 {
		t.Fatalf("a row written after the task was removed reached the target (%d, %v)", n, err)
	}
	if n, err := d.sourceConns(); err != nil || n != 0 {
		t.Fatalf("the removed task's units hold %d source connections (%v)", n, err)
	}
}
