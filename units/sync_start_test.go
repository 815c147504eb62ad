package units

import (
	"context"
	"testing"
	"time"
)

// waitSecond waits until the wall clock is in a later second than at.
func waitSecond(t *testing.T, at time.Time) time.Time {
	t.Helper()
	next := at.Truncate(time.Second).Add(time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(next) {
		if time.Now().After(deadline) {
			t.Fatal("the clock did not move on")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return next
}

// TestSyncStartTime: spec.start.time starts sync at the first transaction
// stamped at or after the time, found across binlog files; Pin records it
// once (a second Pin keeps it); a change the target already holds (as
// from a backup taken at that time) is applied idempotently, not as an
// error or a divergence.
func TestSyncStartTime(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	syExec(t, p.srcDB, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY, v INT)")
	syCopySchema(t, p, "d", "t")
	syExec(t, p.srcDB, "INSERT INTO d.t VALUES (1, 1)", "FLUSH BINARY LOGS", "INSERT INTO d.t VALUES (2, 2)")
	at := waitSecond(t, time.Now()) // every change so far is stamped before at
	var gtidAtTime string
	if err := p.srcDB.QueryRow("SELECT @@gtid_binlog_pos").Scan(&gtidAtTime); err != nil {
		t.Fatal(err)
	}
	syExec(t, p.srcDB, "INSERT INTO d.t VALUES (10, 10)", "UPDATE d.t SET v = 20 WHERE id = 2")
	syExec(t, p.srcDB, "FLUSH BINARY LOGS", "INSERT INTO d.t VALUES (11, 11)")
	// The target holds a backup taken at the time, with the first change
	// after it already in.
	syExec(t, p.dstDB, "INSERT INTO d.t VALUES (1, 1), (2, 2), (10, 10)")

	cfg := p.config("at-time", ModeIncremental, []string{"d.*"})
	cfg.StartTime = at
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pos, err := Pin(ctx, cfg, syLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if pos.File == "" || pos.GTID == "" {
		t.Fatalf("Pin returned %s, want a file:pos with its GTID set", describePos(pos))
	}
	// The transaction boundary between the last change stamped before the
	// time and the first one after it.
	if pos.GTID != gtidAtTime {
		t.Fatalf("Pin at %s returned %s, want the GTID set %s the source had then", at.Format(time.RFC3339), describePos(pos), gtidAtTime)
	}
	var gtidThere string
	if err := p.srcDB.QueryRow("SELECT BINLOG_GTID_POS(?, ?)", pos.File, pos.Pos).Scan(&gtidThere); err != nil || gtidThere != pos.GTID {
		t.Fatalf("BINLOG_GTID_POS at the pinned %s = %q (%v): not a transaction boundary", describePos(pos), gtidThere, err)
	}
	syExec(t, p.srcDB, "INSERT INTO d.t VALUES (12, 12)")
	again, err := Pin(ctx, cfg, syLog(t))
	if err != nil || again != pos {
		t.Fatalf("second Pin = %s, %v; want the recorded %s", describePos(again), err, describePos(pos))
	}
	r := syStart(t, cfg, syLog(t))
	syWaitSame(t, p, 20*time.Second, "d.t=d.t")
	syWaitCaughtUp(t, p, r, 20*time.Second)
	if n := r.errs.Load(); n > 0 {
		t.Errorf("sync reported %d errors replaying the overlap (last: %+v)", n, r.last.Load())
	}
	r.stop(t)
}
