package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/mariadbtest"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/spec"
)

// relayYAML turns the relay on in a Source document.
const relayYAML = "  relay:\n    enabled: true\n    retain: 1h\n"

// purgeAll rotates the source's binlog and purges every file before the
// new one.
func purgeAll(t *testing.T, d *dataset) string {
	t.Helper()
	d.exec(d.src, "FLUSH BINARY LOGS")
	var file string
	var pos int64
	var a, b any
	if err := d.src.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &a, &b); err != nil {
		t.Fatal(err)
	}
	d.exec(d.src, "PURGE BINARY LOGS TO '"+file+"'")
	return file
}

// TestRelay, from YAML with a Source whose relay is on: a task in mode
// all whose source writes, rotates and purges its binlogs past the
// snapshot while the load runs still finishes and syncs (from the relay),
// equal to the source; the source has one binlog connection (the relay's);
// a task paused while the source purges its binlogs resumes from the
// relay.
func TestRelay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	srv, err := mariadbtest.Start(ctx, filepath.Join(dir, "source"), mariadbtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	c := newCluster(t)
	const rows = 60000
	d := newDatasetOn(t, c, srv, "relay", rows)
	relayDir := filepath.Join(dir, "relay")
	c.startAgent("a", "--relay-dir", relayDir)
	waitWorkers(c, 1)
	c.writeYAML("source.yaml", d.sourceYAML()+relayYAML)
	c.writeYAML("task.yaml", d.taskYAML("running"))
	plan := c.dmplan("plan", "-f", c.dir+"/yaml")
	if !strings.Contains(plan, "relay on") {
		t.Fatalf("plan does not say the relay is on:\n%s", plan)
	}
	w := d.startWriter(200)
	c.apply()
	src := "src-" + d.name
	// While the dump or load runs: rotate and purge past the snapshot.
	st, _ := c.waitStage(60*time.Second, d.name, src, spec.StageRunning, func(s store.SubtaskStatus) bool {
		return s.Unit == "load" || s.Unit == "sync"
	})
	t.Logf("purging the source's binlogs during %s (%d rows done)", st.Unit, st.Progress.RowsDone)
	time.Sleep(300 * time.Millisecond)
	first := purgeAll(t, d)
	time.Sleep(300 * time.Millisecond)
	purgeAll(t, d)
	w.halt(t)
	took := d.waitEqual(3 * time.Minute)
	t.Logf("mode all with the source's binlogs purged during the copy (from %s on): target equal after %s", first, took)
	if n, err := dumpConns(d); err != nil || n != 1 {
		t.Errorf("binlog dump connections of the source user: %d (%v), want 1 (the relay's)", n, err)
	}
	out := c.dmplan("status")
	if !strings.Contains(out, "RELAY") || !strings.Contains(out, src) {
		t.Errorf("status does not show the relay:\n%s", out)
	}
	t.Logf("status:\n%s", out)
	files, _ := os.ReadDir(filepath.Join(relayDir, src))
	if len(files) < 3 {
		t.Errorf("relay dir holds %d entries, want the index, the checkpoint and binlog files", len(files))
	}

	// Paused while the source purges: resumes from the relay.
	c.writeYAML("task.yaml", d.taskYAML("paused"))
	c.apply()
	c.waitStage(30*time.Second, d.name, src, spec.StagePaused, nil)
	d.changeRows(t, 5000)
	purged := purgeAll(t, d)
	waitFor(t, 30*time.Second, "the source to purge every file before "+purged, func() (bool, error) {
		var oldest string
		var size any
		if err := d.src.QueryRow("SHOW BINARY LOGS").Scan(&oldest, &size); err != nil {
			return false, err
		}
		if oldest != purged {
			d.exec(d.src, "PURGE BINARY LOGS TO '"+purged+"'") // a dump thread was still in the file
		}
		return oldest == purged, nil
	})

	// plan --refresh of a move to another agent says that its relay would
	// start at a checkpoint the source no longer has.
	c.startAgent("b", "--relay-dir", filepath.Join(dir, "relay-b"))
	waitWorkers(c, 2)
	c.writeYAML("source.yaml", d.sourceYAML()+relayYAML+"  worker: b\n")
	plan = c.dmplan("plan", "--refresh", "-f", c.dir+"/yaml")
	if !strings.Contains(plan, "precheck error: relay:") || !strings.Contains(plan, "no longer has") {
		t.Errorf("plan --refresh of a move of the relay's source does not say the checkpoint is gone upstream:\n%s", plan)
	}
	t.Logf("plan --refresh of the move:\n%s", plan)
	c.writeYAML("source.yaml", d.sourceYAML()+relayYAML)

	c.writeYAML("task.yaml", d.taskYAML("running"))
	c.apply()
	took = d.waitEqual(2 * time.Minute)
	t.Logf("paused task resumed from the relay after the source purged its binlogs: target equal after %s", took)
}

// dumpConns counts the dataset user's binlog dump connections.
func dumpConns(d *dataset) (int, error) {
	var n int
	err := d.src.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ? AND COMMAND LIKE 'Binlog Dump%'", d.srcUser).Scan(&n)
	return n, err
}
