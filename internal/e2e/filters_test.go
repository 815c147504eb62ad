package e2e

import (
	"database/sql"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/spec"
)

// TestFiltersAndOnlineDDL drives spec.filters and spec.onlineDDL as a user
// does, with two agents: plan shows the filter per subtask; deletes the
// filter ignores stay out of the target, also after the serving agent is
// killed and the other takes over; pt-online-schema-change alters a table
// under writes and the target ends with the same checksum; removing the
// filter is a plan change after which deletes reach the target again.
func TestFiltersAndOnlineDDL(t *testing.T) {
	pt, err := exec.LookPath("pt-online-schema-change")
	if err != nil {
		t.Skip("pt-online-schema-change not installed (Debian package percona-toolkit)")
	}
	c := newCluster(t)
	d := newDataset(t, c, "filt", 5000)
	for _, name := range []string{"a", "b"} {
		c.startAgent(name, "--lease-ttl", "5s")
	}
	waitWorkers(c, 2)
	filter := fmt.Sprintf("  filters:\n    - tables: [\"%s.t1\"]\n      events: [delete]\n      action: ignore\n", d.db)
	c.writeYAML("source.yaml", d.sourceYAML())
	c.writeYAML("task.yaml", d.taskYAMLWith("running", filter))
	plan := c.dmplan("plan", "-f", filepath.Join(c.dir, "yaml"))
	if want := "binlog filter: drops delete on " + d.db + ".t1"; !strings.Contains(plan, want) {
		t.Fatalf("plan does not say %q:\n%s", want, plan)
	}
	c.apply()
	st, _ := c.waitStage(90*time.Second, "filt", "src-filt", spec.StageRunning, syncing(""))

	marker := 9000
	caughtUp := func() {
		t.Helper()
		marker++
		d.exec(d.src, fmt.Sprintf("INSERT INTO `%s`.t2 (id, note) VALUES (%d, 'marker')", d.db, marker))
		waitFor(t, 60*time.Second, "the marker row on the target", func() (bool, error) {
			var n int
			err := d.tgt.QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM `%s`.t2 WHERE id = %d", d.db, marker)).Scan(&n)
			return n == 1, err
		})
	}
	count := func(db *sql.DB, lo, hi int) int {
		t.Helper()
		var n int
		if err := db.QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM `%s`.t1 WHERE id BETWEEN %d AND %d", d.db, lo, hi)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	d.exec(d.src, fmt.Sprintf("DELETE FROM `%s`.t1 WHERE id BETWEEN 1 AND 100", d.db))
	caughtUp()
	if n := count(d.tgt, 1, 100); n != 100 {
		t.Fatalf("target t1 rows 1..100 after an ignored delete: %d, want 100", n)
	}
	// status shows what the filter dropped.
	waitFor(t, 30*time.Second, "status to count the dropped deletes", func() (bool, error) {
		st, ok, err := c.status("filt", "src-filt")
		return ok && st.FilteredEvents >= 100, err
	})
	if out := c.dmplan("status"); !strings.Contains(out, "spec.filters dropped") {
		t.Fatalf("status does not show the dropped events:\n%s", out)
	}

	// The serving agent dies; the other resumes with the same rules.
	first := st.Worker
	c.agents[first].kill()
	c.waitStage(90*time.Second, "filt", "src-filt", spec.StageRunning, func(s store.SubtaskStatus) bool { return s.Worker != first && s.Unit == "sync" })
	d.exec(d.src, fmt.Sprintf("DELETE FROM `%s`.t1 WHERE id BETWEEN 101 AND 200", d.db))
	caughtUp()
	if n := count(d.tgt, 101, 200); n != 100 {
		t.Fatalf("target t1 rows 101..200 after an ignored delete on the agent that took over: %d, want 100", n)
	}

	// pt-online-schema-change on t2 under writes.
	w := d.startWriter(100)
	osc := exec.Command(pt, "--alter", "ADD COLUMN extra INT NOT NULL DEFAULT 1", "--execute", "--recursion-method=none",
		"--chunk-size=100", "--sleep=0.05", "--set-vars", "lock_wait_timeout=10",
		fmt.Sprintf("h=127.0.0.1,P=%d,u=root,D=%s,t=t2", d.srv.Port, d.db))
	if out, err := osc.CombinedOutput(); err != nil {
		t.Fatalf("pt-online-schema-change: %v\n%s", err, out)
	}
	time.Sleep(300 * time.Millisecond)
	w.halt(t)
	caughtUp()
	checksum := func(db *sql.DB) int64 {
		var name string
		var sum sql.NullInt64
		if err := db.QueryRow(fmt.Sprintf("CHECKSUM TABLE `%s`.t2", d.db)).Scan(&name, &sum); err != nil {
			t.Fatal(err)
		}
		return sum.Int64
	}
	if s, g := checksum(d.src), checksum(d.tgt); s != g {
		t.Fatalf("t2 after pt-online-schema-change: source checksum %d, target %d", s, g)
	}
	var n int
	if err := d.tgt.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE '\\_%'", d.db).Scan(&n); err != nil || n != 0 {
		t.Fatalf("shadow or trash tables on the target: %d (%v)", n, err)
	}

	// The filter removed: a plan change, after which deletes replicate.
	c.writeYAML("task.yaml", d.taskYAML("running"))
	if plan := c.dmplan("plan", "-f", filepath.Join(c.dir, "yaml")); !strings.Contains(plan, "filters removed") {
		t.Fatalf("plan does not say the filters are removed:\n%s", plan)
	}
	reader, err := d.binlogReader()
	if err != nil || reader == 0 {
		t.Fatalf("no binlog reader on the source (%d, %v)", reader, err)
	}
	c.apply()
	// The change reaches sync when it restarts: events read before keep
	// the old rules (the plan says "from there on").
	waitFor(t, 60*time.Second, "sync to restart with the new rules (a new binlog reader)", func() (bool, error) {
		id, err := d.binlogReader()
		return id != 0 && id != reader, err
	})
	d.exec(d.src, fmt.Sprintf("INSERT INTO `%s`.t1 (id, k, c, pad, ts) SELECT seq, 0, 'late', 'p', NOW(6) FROM `%s`.seq_900001_to_900050", d.db, d.db),
		fmt.Sprintf("DELETE FROM `%s`.t1 WHERE id BETWEEN 900001 AND 900040", d.db))
	caughtUp()
	if n := count(d.tgt, 900001, 900050); n != 10 {
		t.Fatalf("target t1 rows 900001..900050 once the filter is removed: %d, want the 10 the source kept", n)
	}
}
