package units

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/mariadbtest"
)

// TestSyncSourceMovedElsewhere: a subtask whose Source now reaches another
// server, one that does not hold the checkpoint's GTIDs, stops with a
// permanent error that says what to do, and touches nothing; pointed back
// at its own server it resumes.
func TestSyncSourceMovedElsewhere(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	other := syServer(t, mariadbtest.Options{})
	syExec(t, p.srcDB, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY, v INT)")
	syCopySchema(t, p, "d", "t")
	cfg := p.config("moved", ModeIncremental, []string{"d.*"})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := Pin(ctx, cfg, syLog(t)); err != nil { // the start: before the inserts
		t.Fatal(err)
	}
	syExec(t, p.srcDB, "INSERT INTO d.t VALUES (1, 1), (2, 2)")
	r := syStart(t, cfg, syLog(t))
	syWaitSame(t, p, 20*time.Second, "d.t=d.t")
	syWaitCaughtUp(t, p, r, 20*time.Second)
	r.stop(t)
	var file, gtid, server string
	read := func() {
		t.Helper()
		if err := p.dstDB.QueryRow(`SELECT c.binlog_file, c.gtid, CONCAT(s.server_id, '/', s.domain_id, '/', s.binlog_base)
			FROM dmplan_meta.sync_checkpoint c JOIN dmplan_meta.source_server s USING (task, source) WHERE task = 'moved'`).
			Scan(&file, &gtid, &server); err != nil {
			t.Fatal(err)
		}
	}
	read()
	before := file + " " + gtid + " " + server

	moved := cfg
	moved.From = syEndpoint(other)
	err := Run(ctx, moved, nil, syLog(t))
	if !errors.Is(err, ErrPermanent) {
		t.Fatalf("Run against another server: %v, want a permanent error", err)
	}
	for _, want := range []string{"does not hold the checkpoint's GTID set", "point the Source back at the server that wrote them", "give spec.start"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
	read()
	if after := file + " " + gtid + " " + server; after != before {
		t.Errorf("the failed move changed the checkpoint: %s, was %s", after, before)
	}

	syExec(t, p.srcDB, "INSERT INTO d.t VALUES (3, 3)")
	r = syStart(t, cfg, syLog(t))
	syWaitSame(t, p, 20*time.Second, "d.t=d.t")
	r.stop(t)
}
