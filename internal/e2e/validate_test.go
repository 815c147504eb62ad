package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/statusview"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/spec"
)

// Continuous validation as a user meets it: a task with
// spec.validate.mode full syncs under writes and reports nothing; a row
// changed behind dmplan's back on the target is then shown by
// `dmplan status` (text and JSON, with its key and binlog position) and by
// `dmplan plan` as a live fact; changing the mode is a plan change with
// its impact line.
func TestValidateEndToEnd(t *testing.T) {
	c := newCluster(t)
	d := newDataset(t, c, "valid", 2000)
	c.startAgent("a")
	waitWorkers(c, 1)
	c.writeYAML("source.yaml", d.sourceYAML())
	c.writeYAML("task.yaml", d.taskYAMLWith("running", "  validate:\n    mode: full\n"))
	c.apply()
	c.waitStage(90*time.Second, "valid", "src-valid", spec.StageRunning, syncing("a"))

	w := d.startWriter(200)
	waitFor(t, 30*time.Second, "writes to flow", func() (bool, error) { return w.ops.Load() > 400, nil })
	w.halt(t)
	d.waitEqual(60 * time.Second)
	var st store.SubtaskStatus
	waitFor(t, 60*time.Second, "validation to check the writes", func() (bool, error) {
		s, ok, err := c.status("valid", "src-valid")
		st = s
		return ok && s.Validation != nil && s.Validation.Checked > 100 && s.Validation.Pending == 0, err
	})
	if v := st.Validation; v.Failed != 0 || v.Mode != "full" {
		t.Fatalf("validation after correct writes: %+v", v)
	}

	// A row that exists: the writer deletes rows at random.
	var id int
	if err := d.src.QueryRow("SELECT MIN(id) FROM `" + d.db + "`.t1").Scan(&id); err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("id=%d", id)
	d.exec(d.tgt, fmt.Sprintf("UPDATE `%s`.t1 SET c = 'tampered' WHERE id = %d", d.db, id))
	d.exec(d.src, fmt.Sprintf("UPDATE `%s`.t1 SET k = k + 1 WHERE id = %d", d.db, id))
	waitFor(t, 60*time.Second, "the changed row to be reported", func() (bool, error) {
		s, ok, err := c.status("valid", "src-valid")
		st = s
		return ok && s.Validation != nil && s.Validation.Failed == 1, err
	})
	var view statusview.View
	if err := json.Unmarshal([]byte(c.dmplan("status", "-o", "json")), &view); err != nil {
		t.Fatal(err)
	}
	var rows []store.ValidationRow
	for _, s := range view.Subtasks {
		if s.Task == "valid" && s.Validation != nil {
			rows = s.Validation.Rows
		}
	}
	if len(rows) != 1 || rows[0].Table != d.db+".t1" || rows[0].Key != key || rows[0].Kind != "changed" ||
		strings.Join(rows[0].Columns, ",") != "c" || rows[0].BinlogFile == "" || rows[0].BinlogPos == 0 {
		t.Fatalf("status -o json lists %+v, want %s.t1 %s changed in column c with its binlog position", rows, d.db, key)
	}
	if out := c.dmplan("status"); !strings.Contains(out, "DIFFERING ROW") || !strings.Contains(out, key) {
		t.Fatalf("status does not list the row:\n%s", out)
	}
	out := c.dmplan("plan", "-f", filepath.Join(c.dir, "yaml"))
	if !strings.Contains(out, "Live: subtask valid/src-valid: validation (full) found 1 row differs on the target: "+d.db+".t1 "+key+" (changed)") {
		t.Fatalf("plan does not show the differing row as a live fact:\n%s", out)
	}

	c.writeYAML("task.yaml", d.taskYAMLWith("running", "  validate:\n    mode: fast\n"))
	out = c.dmplan("plan", "-f", filepath.Join(c.dir, "yaml"))
	if !strings.Contains(out, "validate.mode full -> fast: running subtasks restart to take it") {
		t.Fatalf("plan of a validation mode change:\n%s", out)
	}
}
