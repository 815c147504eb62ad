package units

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestSyncServerRestarts: the target crashes and restarts, then the
// source restarts (a new binlog file), under writes; sync resumes by
// itself, reports the transient errors, and applies every change once.
func TestSyncServerRestarts(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	cfg := p.config("restarts", ModeIncremental, []string{"c.*", "!c.log_*"})
	cfg.Start = syAuditSetup(t, p)
	w := syStartWriter(t, p.srcDB, 11)
	r := syStart(t, cfg, syLog(t))
	time.Sleep(time.Second)
	if err := p.dst.Restart(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := p.src.Restart(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	w.stop()
	syWaitCaughtUp(t, p, r, 60*time.Second)
	syWaitSame(t, p, 30*time.Second, "c.acct=c.acct", "c.nokey=c.nokey", "c.uk=c.uk")
	if r.errs.Load() == 0 {
		t.Error("no transient error was reported while the servers restarted")
	}
	if err := r.stop(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
	syAuditSame(t, p)
	if pr := r.last.Load(); pr == nil || !strings.HasSuffix(pr.Position.File, ".000002") {
		t.Errorf("last position %+v, want one in the binlog file the source opened at its restart", pr)
	}
}

// TestSyncTwoRuns: two runs of one subtask at once; one waits for the
// other's lock, takes over when it stops, and nothing is applied twice.
func TestSyncTwoRuns(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	cfg := p.config("twice", ModeIncremental, []string{"c.*", "!c.log_*"})
	cfg.Start = syAuditSetup(t, p)
	w := syStartWriter(t, p.srcDB, 12)
	log := syLog(t)
	r1 := syStart(t, cfg, log)
	r2 := syStart(t, cfg, log)
	time.Sleep(1500 * time.Millisecond)
	r1.stop(t)
	time.Sleep(1500 * time.Millisecond)
	w.stop()
	syWaitCaughtUp(t, p, r2, 60*time.Second)
	syWaitSame(t, p, 30*time.Second, "c.acct=c.acct", "c.nokey=c.nokey", "c.uk=c.uk")
	r2.stop(t)
	syAuditSame(t, p)
}

// TestSyncPurgedBinlog: when the source purged the binlog at the
// checkpoint, Run stops with a permanent error that says what to do.
func TestSyncPurgedBinlog(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	syExec(t, p.srcDB, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)")
	syCopySchema(t, p, "d", "t")
	cfg := p.config("purged", ModeIncremental, []string{"d.*"})
	r := syStart(t, cfg, syLog(t))
	syWaitCaughtUp(t, p, r, 20*time.Second)
	syExec(t, p.srcDB, "INSERT INTO d.t VALUES (1)")
	syWaitSame(t, p, 20*time.Second, "d.t=d.t")
	r.stop(t)
	syExec(t, p.srcDB, "INSERT INTO d.t VALUES (2)", "FLUSH BINARY LOGS", "INSERT INTO d.t VALUES (3)", "FLUSH BINARY LOGS")
	var file string
	var pos uint32
	var a, b any
	if err := p.srcDB.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &a, &b); err != nil {
		t.Fatal(err)
	}
	// A file a binlog reader still uses is not purged: retry until the
	// stopped run's connection is gone.
	for deadline := time.Now().Add(10 * time.Second); ; {
		syExec(t, p.srcDB, "PURGE BINARY LOGS TO '"+file+"'")
		var first string
		var size any
		if err := p.srcDB.QueryRow("SHOW BINARY LOGS").Scan(&first, &size); err != nil {
			t.Fatal(err)
		}
		if first == file {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("binlog %s is still there after PURGE", first)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := Run(ctx, cfg, nil, syLog(t))
	if !errors.Is(err, ErrPermanent) {
		t.Fatalf("Run returned %v, want a permanent error", err)
	}
	for _, want := range []string{"mysql-bin.000001", "1236", "fresh dump"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestSyncStartGTID: incremental sync from a GTID set alone, then resumed
// from the checkpoint it wrote (file:pos and GTID).
func TestSyncStartGTID(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	syExec(t, p.srcDB, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY, v INT)", "INSERT INTO d.t VALUES (1, 1)")
	syCopySchema(t, p, "d", "t")
	syExec(t, p.dstDB, "INSERT INTO d.t VALUES (1, 1)")
	var gtid string
	if err := p.srcDB.QueryRow("SELECT @@gtid_binlog_pos").Scan(&gtid); err != nil {
		t.Fatal(err)
	}
	syExec(t, p.srcDB, "INSERT INTO d.t VALUES (2, 2)", "UPDATE d.t SET v = 10 WHERE id = 1")
	cfg := p.config("gtid", ModeIncremental, []string{"d.*"})
	cfg.Start = Position{GTID: gtid}
	r := syStart(t, cfg, syLog(t))
	syWaitSame(t, p, 20*time.Second, "d.t=d.t")
	syWaitCaughtUp(t, p, r, 20*time.Second)
	r.stop(t)
	var file, stored string
	if err := p.dstDB.QueryRow("SELECT binlog_file, gtid FROM dmplan_meta.sync_checkpoint WHERE task = 'gtid'").Scan(&file, &stored); err != nil {
		t.Fatal(err)
	}
	if file == "" || stored == gtid || stored == "" {
		t.Errorf("checkpoint after a GTID start: file %q, gtid %q (started at %q)", file, stored, gtid)
	}
	syExec(t, p.srcDB, "INSERT INTO d.t VALUES (3, 3)")
	r = syStart(t, cfg, syLog(t))
	syWaitSame(t, p, 20*time.Second, "d.t=d.t")
	r.stop(t)
}

// TestSyncTargetDiffers: a target table whose definition differs from the
// source's stops the unit with a permanent error naming the table.
func TestSyncTargetDiffers(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	syExec(t, p.srcDB, "CREATE DATABASE d", "CREATE TABLE d.narrow (id INT PRIMARY KEY, v VARCHAR(20))",
		"CREATE TABLE d.wide (id INT PRIMARY KEY, v INT)")
	syExec(t, p.dstDB, "CREATE DATABASE d", "CREATE TABLE d.narrow (id INT PRIMARY KEY, v VARCHAR(3))",
		"CREATE TABLE d.wide (id INT PRIMARY KEY, v INT, extra INT)")
	for _, c := range []struct{ stmt, want string }{
		{"INSERT INTO d.narrow VALUES (1, 'much too long')", "`d`.`narrow`"},
		{"INSERT INTO d.wide VALUES (1, 1)", "the target table 3"},
	} {
		cfg := p.config("differs", ModeIncremental, []string{"d.*"})
		cfg.Start = syMasterPos(t, p)
		syExec(t, p.srcDB, c.stmt)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := Run(ctx, cfg, nil, syLog(t))
		cancel()
		if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Run returned %v, want a permanent error mentioning %s", c.stmt, err, c.want)
		}
		syExec(t, p.dstDB, "DELETE FROM dmplan_meta.sync_checkpoint", "DELETE FROM dmplan_meta.sync_worker")
	}
}

// TestSyncReportsDivergence: a change whose row is missing on the target
// is counted and reported (Progress.Divergent), not only logged.
func TestSyncReportsDivergence(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	syExec(t, p.srcDB, "CREATE DATABASE dv", "CREATE TABLE dv.t (id INT PRIMARY KEY, v INT)")
	syExec(t, p.dstDB, "CREATE DATABASE dv", "CREATE TABLE dv.t (id INT PRIMARY KEY, v INT)")
	cfg := p.config("dv", ModeIncremental, []string{"dv.*"})
	cfg.Start = syMasterPos(t, p)
	r := syStart(t, cfg, syLog(t))
	syExec(t, p.srcDB, "INSERT INTO dv.t VALUES (1, 1), (2, 2)")
	syWaitSame(t, p, 30*time.Second, "dv.t=dv.t")
	if pr := r.last.Load(); pr == nil || pr.Divergent != 0 {
		t.Fatalf("divergent before any divergence: %+v", pr)
	}
	syExec(t, p.dstDB, "DELETE FROM dv.t WHERE id = 1") // the target diverges
	syExec(t, p.srcDB, "UPDATE dv.t SET v = 10 WHERE id = 1", "UPDATE dv.t SET v = 20 WHERE id = 2")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if pr := r.last.Load(); pr != nil && pr.Divergent > 0 {
			if pr.Divergent != 1 {
				t.Errorf("divergent = %d, want 1 (only the update of id 1 missed its row)", pr.Divergent)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the missing row was never reported as a divergence")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := r.stop(t); !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
}
