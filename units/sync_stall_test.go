package units

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"
)

// TestSyncStallOnTargetLock: a session on the target holds LOCK TABLES on
// a replicated table. Sync's appliers wait (MariaDB lets them wait a day),
// and the run must say so: the lag keeps growing instead of freezing at
// its last figure, and after stallAfter the report names the lock wait
// and what to do. Once the lock goes, sync catches up by itself and the
// report clears.
func TestSyncStallOnTargetLock(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	syExec(t, p.srcDB, "CREATE DATABASE sl", "CREATE TABLE sl.t (id INT PRIMARY KEY, v INT)")
	syCopySchema(t, p, "sl", "t")
	cfg := p.config("stall", ModeIncremental, []string{"sl.*"})
	cfg.Start = syMasterPos(t, p)
	cfg.StallAfter = 7 * time.Second // the sessions' wait must show 5 s in the processlist
	r := syStart(t, cfg, syLog(t))
	syExec(t, p.srcDB, "INSERT INTO sl.t VALUES (1, 1)")
	syWaitSame(t, p, 30*time.Second, "sl.t=sl.t")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lock := syLockSession(t, ctx, p.dstDB, "LOCK TABLES sl.t WRITE")
	syExec(t, p.srcDB, "INSERT INTO sl.t VALUES (2, 2)", "UPDATE sl.t SET v = 10 WHERE id = 1")
	var first time.Duration
	pr := syWaitReport(t, r, 90*time.Second, "sync stood still behind a lock and the report said so", func(pr *Progress) bool {
		if first == 0 && pr.Lag > 3*time.Second {
			first = pr.Lag
		}
		return strings.Contains(pr.Err, "wait for a lock")
	})
	if !strings.Contains(pr.Err, "metadata lock") || !strings.Contains(pr.Err, "SHOW PROCESSLIST") {
		t.Errorf("the report does not say what its sessions wait for and what to do: %q", pr.Err)
	}
	if first == 0 || pr.Lag <= first {
		t.Errorf("the lag did not keep growing while sync stood still: %v, then %v", first, pr.Lag)
	}
	t.Logf("reported: lag %v, %s", pr.Lag, pr.Err)
	if _, err := lock.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}
	syWaitSame(t, p, 30*time.Second, "sl.t=sl.t")
	syWaitReport(t, r, 30*time.Second, "the stall no longer reported after the lock went", func(pr *Progress) bool { return pr.Err == "" })
}

// TestRunStallOnTargetLockBeforeSync: the target is under FLUSH TABLES WITH
// READ LOCK when a subtask starts (mode all): its prechecks and copy wait
// on the target. The run must say so after copyStallAfter (not sit at "no
// unit yet" with nothing said), then copy and sync once the lock goes.
func TestRunStallOnTargetLockBeforeSync(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	syExec(t, p.srcDB, "CREATE DATABASE cl", "CREATE TABLE cl.t (id INT PRIMARY KEY, v INT)", "INSERT INTO cl.t VALUES (1, 1), (2, 2)")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	lock := syLockSession(t, ctx, p.dstDB, "FLUSH TABLES WITH READ LOCK")
	cfg := p.config("ftwrl", ModeAll, []string{"cl.*"})
	cfg.StallAfter = 7 * time.Second // the sessions' wait must show 5 s in the processlist
	r := syStart(t, cfg, syLog(t))
	pr := syWaitReport(t, r, 2*time.Minute, "the run waited on a locked target and the report said so", func(pr *Progress) bool {
		return strings.Contains(pr.Err, "wait for a lock")
	})
	if !strings.Contains(pr.Err, "backup lock") || !strings.Contains(pr.Err, "FLUSH TABLES WITH READ LOCK") {
		t.Errorf("the report does not say what its sessions wait for and what to do: %q", pr.Err)
	}
	t.Logf("reported: %s", pr.Err)
	if _, err := lock.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}
	syExec(t, p.srcDB, "INSERT INTO cl.t VALUES (3, 3)")
	syWaitSame(t, p, time.Minute, "cl.t=cl.t")

	// Past the prechecks: the load waits on a table locked on the target
	// while the units go on reporting the same progress; what the watch
	// said stays in their reports.
	syExec(t, p.srcDB, "CREATE DATABASE cm", "CREATE TABLE cm.u (id INT PRIMARY KEY, v INT)", "INSERT INTO cm.u SELECT seq, seq FROM mysql.seq_1_to_1000")
	syCopySchema(t, p, "cm", "u")
	if _, err := lock.ExecContext(ctx, "LOCK TABLES cm.u WRITE"); err != nil {
		t.Fatal(err)
	}
	cfg2 := p.config("lockt", ModeAll, []string{"cm.*"})
	cfg2.StallAfter = 7 * time.Second
	r2 := syStart(t, cfg2, syLog(t))
	seen := 0
	for deadline := time.Now().Add(2 * time.Minute); seen < 5; {
		if pr := r2.last.Load(); pr != nil && strings.Contains(pr.Err, "nothing copied") && strings.Contains(pr.Err, "metadata lock") {
			seen++ // the same, report after report
		} else if seen > 0 {
			t.Fatalf("a later report dropped what the watch said: %+v", pr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the load has waited on a locked table for 2 minutes and its last report says nothing of it: %+v", r2.last.Load())
		}
		time.Sleep(300 * time.Millisecond)
	}
	if _, err := lock.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}
	syWaitSame(t, p, time.Minute, "cm.u=cm.u")
}

// syLockSession opens a session on db that runs stmt (a lock it then
// holds until the test releases it or ends).
func syLockSession(t testing.TB, ctx context.Context, db *sql.DB, stmt string) *sql.Conn {
	t.Helper()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.ExecContext(ctx, stmt); err != nil {
		t.Fatal(err)
	}
	return c
}
