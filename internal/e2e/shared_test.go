package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/spec"
)

// sharedTaskYAML is a Task of d's source copying d's t1 into merged.t1.
func sharedTaskYAML(d *dataset, mode, stage, route string) string {
	routes := ""
	if route != "" {
		routes = fmt.Sprintf("  routes:\n    - from: %s.t1\n      to: %s\n", d.db, route)
	}
	return fmt.Sprintf(`apiVersion: dmplan/v1
kind: Task
metadata:
  name: %s
spec:
  mode: %s
  stage: %s
  target:
    host: 127.0.0.1
    port: %d
    user: %s
    password: ${%s}
  sources:
    - src-%s
  tables:
    - "%s.t1"
%s`, d.name, mode, stage, target.Port, d.tgtUser, d.tgtPWVar, d.name, d.db, routes)
}

// unionDigest is the row count and CRC sum of the rows of tables on the
// server behind d.
func unionDigest(d *dataset, onTarget bool, tables ...string) (string, error) {
	db := d.src
	if onTarget {
		db = d.tgt
	}
	var sel []string
	for _, tb := range tables {
		sel = append(sel, "SELECT id, k, c, pad, v, ts FROM "+tb)
	}
	var n, sum int64
	q := "SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', id, k, c, pad, IFNULL(v, '\\\\N'), ts))), 0) FROM (" +
		strings.Join(sel, " UNION ALL ") + ") u"
	if err := db.QueryRow(q).Scan(&n, &sum); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d:%d", n, sum), nil
}

// Source A (mode all) and source B (mode incremental) are routed into one
// target table; B replicates under writes. Through apply and the agent:
//   - the plan of A's mode change (all -> full, a fresh start) says the
//     shared table is not dropped and A stops with an error; applied, A
//     reports that error naming B, and B's rows survive while B goes on;
//   - done as the error says, A (paused and resumed) loads beside B's
//     rows: the target table equals the union of both sources;
//   - B's routes change: the plan names the table left behind, and
//     dmplan status lists it as orphaned.
func TestSharedTargetFreshStart(t *testing.T) {
	c := newCluster(t)
	a := newDataset(t, c, "shared-a", 5000)
	b := newDataset(t, c, "shared-b", 0)
	const merged = "e2e_shared_m.t1"
	b.exec(b.src, "ALTER TABLE `"+b.db+"`.t1 AUTO_INCREMENT = 1000000000") // B's ids never meet A's
	a.exec(a.tgt, "DROP DATABASE IF EXISTS e2e_shared_m")
	c.startAgent("a")
	waitWorkers(c, 1)

	c.writeYAML("sources.yaml", a.sourceYAML()+"---\n"+b.sourceYAML())
	c.writeYAML("a.yaml", sharedTaskYAML(a, "all", "running", merged))
	c.apply()
	c.waitStage(60*time.Second, "shared-a", "src-shared-a", spec.StageRunning, syncing("a")) // merged.t1 exists
	c.writeYAML("b.yaml", sharedTaskYAML(b, "incremental", "running", merged))
	c.apply()
	c.waitStage(60*time.Second, "shared-b", "src-shared-b", spec.StageRunning, syncing("a"))
	wa, wb := a.startWriter(100), b.startWriter(100)
	waitFor(t, 30*time.Second, "B's rows to arrive", func() (bool, error) {
		var n int
		err := a.tgt.QueryRow("SELECT COUNT(*) FROM " + merged + " WHERE id >= 1000000000").Scan(&n)
		return n >= 20, err
	})
	wa.halt(t) // mode full copies A as of its new snapshot

	// A's mode changes: a fresh start into the shared table.
	c.writeYAML("a.yaml", sharedTaskYAML(a, "full", "running", merged))
	plan := c.dmplan("plan", "-f", c.dir+"/yaml")
	if !strings.Contains(plan, `target tables matching "e2e_shared_m.t1" may also be written by shared-b/src-shared-b (incremental): one they share is not dropped; where this subtask wrote rows before, they cannot be told from theirs and it stops with an error`) {
		t.Fatalf("plan does not say what A's fresh start does with the shared table:\n%s", plan)
	}
	c.apply()
	// status --wait ends at once on the error of the applied config (exit
	// 3), never on A's status of the earlier config (running, mode all).
	if code, _, errs := c.wait("shared-a", "--timeout", "60s"); code != 3 ||
		!strings.Contains(errs, "shared-a/src-shared-a is in stage error: ") ||
		!strings.Contains(errs, "target table `e2e_shared_m`.`t1` is also written by shared-b/src-shared-b (incremental)") ||
		!strings.Contains(errs, "dmplan_meta.subtask_table") {
		t.Fatalf("status --wait after A's fresh start: exit %d, %s; want 3 and an error naming B and saying what to do", code, errs)
	}
	aRows := func() (int, error) {
		var n int
		err := a.tgt.QueryRow("SELECT COUNT(*) FROM " + merged + " WHERE id < 1000000000").Scan(&n)
		return n, err
	}
	if n, err := aRows(); err != nil || n < 5000*9/10 {
		t.Fatalf("A's rows after the refusal: %d (%v), want them untouched", n, err)
	}
	waitFor(t, 60*time.Second, "B's part of the shared table to equal B's source (B's rows survive, B replicates on)", func() (bool, error) {
		want, err := unionDigest(b, false, "`"+b.db+"`.t1")
		if err != nil {
			return false, err
		}
		var n, sum int64
		err = a.tgt.QueryRow("SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', id, k, c, pad, IFNULL(v, '\\\\N'), ts))), 0) FROM "+
			merged+" WHERE id >= 1000000000").Scan(&n, &sum)
		return err == nil && fmt.Sprintf("%d:%d", n, sum) == want && n > 0, err
	})

	// Done as the error says, then paused and resumed: A loads beside.
	a.exec(a.tgt, "DELETE FROM "+merged+" WHERE id < 1000000000",
		"DELETE FROM dmplan_meta.subtask_table WHERE task = 'shared-a' AND source = 'src-shared-a' AND dst_schema = 'e2e_shared_m' AND dst_table = 't1'",
		"DELETE FROM dmplan_meta.load_table WHERE task = 'shared-a' AND source = 'src-shared-a' AND dst_schema = 'e2e_shared_m' AND dst_table = 't1'")
	c.writeYAML("a.yaml", sharedTaskYAML(a, "full", "paused", merged))
	c.apply()
	c.waitStage(30*time.Second, "shared-a", "src-shared-a", spec.StagePaused, nil)
	c.writeYAML("a.yaml", sharedTaskYAML(a, "full", "running", merged))
	c.apply()
	c.waitStage(120*time.Second, "shared-a", "src-shared-a", "finished", nil)
	wb.halt(t)
	took := waitFor(t, 60*time.Second, "the shared table to equal the union of both sources", func() (bool, error) {
		want, err := unionDigest(a, false, "`"+a.db+"`.t1", "`"+b.db+"`.t1")
		if err != nil {
			return false, err
		}
		got, err := unionDigest(a, true, merged)
		return err == nil && got == want, err
	})
	t.Logf("B's writer stopped -> shared table equal to the union of A and B in %s", took)

	// B's routes change: e2e_shared_m.t1 is left behind.
	b.exec(b.tgt, "CREATE DATABASE IF NOT EXISTS `"+b.db+"`", "CREATE TABLE `"+b.db+"`.t1 LIKE "+merged)
	c.writeYAML("b.yaml", sharedTaskYAML(b, "incremental", "running", ""))
	plan = c.dmplan("plan", "-f", c.dir+"/yaml")
	if !strings.Contains(plan, `target tables left behind by the old routes, no longer written (their rows stay; dmplan status lists them as orphaned): "e2e_shared_m.t1"`) {
		t.Fatalf("plan does not name the table the routes change leaves behind:\n%s", plan)
	}
	c.apply()
	c.waitStage(60*time.Second, "shared-b", "src-shared-b", spec.StageRunning, func(s store.SubtaskStatus) bool {
		return len(s.Orphaned) == 1 && s.Orphaned[0] == merged
	})
	out := c.dmplan("status")
	if !strings.Contains(out, "ORPHANED TABLE") || !strings.Contains(out, merged+"  ") || !strings.Contains(out, "shared-b/src-shared-b") {
		t.Fatalf("dmplan status does not list the orphaned table:\n%s", out)
	}
}
