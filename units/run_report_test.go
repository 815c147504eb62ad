package units

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestRunReportsRetries: what a run that cannot get on reports while it
// retries. A target that refuses the password: the report says so at once,
// with what to do, and never holds the password. Then the source stops
// while sync runs: until it is back, every attempt fails before sync
// starts; the run must say so in its reports (Progress.Err, naming the
// source's address), not keep the last healthy report, and once the source
// is back it resumes with no change lost.
func TestRunReportsRetries(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	syExec(t, p.srcDB, "CREATE DATABASE rd", "CREATE TABLE rd.t (id INT PRIMARY KEY, v VARCHAR(20))")
	syCopySchema(t, p, "rd", "t")
	cfg := p.config("down", ModeIncremental, []string{"rd.*"})
	cfg.Start = syMasterPos(t, p)

	syExec(t, p.dstDB, "CREATE USER lander@'127.0.0.1' IDENTIFIED BY 'the-right-one'")
	denied := cfg
	denied.To.User, denied.To.Password = "lander", "Wr0ng-pa55word"
	d := syStart(t, denied, syLog(t))
	for deadline := time.Now().Add(30 * time.Second); ; {
		pr := d.last.Load()
		if pr != nil && strings.Contains(pr.Err, "refuses this user and password") {
			if strings.Contains(pr.Err, denied.To.Password) {
				t.Errorf("the report holds the password: %q", pr.Err)
			}
			if !strings.Contains(pr.Err, "lander@"+p.dst.Addr()) || !strings.Contains(pr.Err, "retrying in") {
				t.Errorf("the report does not name the target's user and address, or that it retries: %q", pr.Err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the target refuses the password and the last report says nothing of it: %+v", pr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.stop(t)
	r := syStart(t, cfg, syLog(t))
	syExec(t, p.srcDB, "INSERT INTO rd.t VALUES (1, 'before')")
	syWaitSame(t, p, 30*time.Second, "rd.t=rd.t")
	syWaitCaughtUp(t, p, r, 30*time.Second)

	if err := p.src.Stop(); err != nil {
		t.Fatal(err)
	}
	pr := syWaitReport(t, r, 30*time.Second, "the source down and the report saying so", func(pr *Progress) bool {
		return strings.Contains(pr.Err, p.src.Addr()) && strings.Contains(pr.Err, "retrying")
	})
	t.Logf("reported while the source is down: unit %q, err %q", pr.Unit, pr.Err)
	// Still said a few seconds later (no healthy-looking report meanwhile).
	time.Sleep(2 * time.Second)
	if pr := r.last.Load(); pr == nil || pr.Err == "" {
		t.Fatalf("the source is still down and the last report has no error: %+v", pr)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.src.StartAgain(ctx); err != nil {
		t.Fatal(err)
	}
	syExec(t, p.srcDB, "INSERT INTO rd.t VALUES (2, 'after')", "UPDATE rd.t SET v = 'changed' WHERE id = 1")
	syWaitSame(t, p, 90*time.Second, "rd.t=rd.t")
}
