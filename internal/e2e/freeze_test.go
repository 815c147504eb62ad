package e2e

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/spec"
)

// The agent serving a syncing source is frozen (SIGSTOP) under writes: its
// lease expires, another agent takes the source over — the subtask lock
// on the target, held by the frozen agent's session, goes within the fence
// bound (units.FenceBound) instead of wait_timeout's 8 hours — and when the
// frozen agent continues (SIGCONT) none of its target sessions commits
// anything. Every change arrives exactly once (audit triggers).
func TestFrozenAgentIsFenced(t *testing.T) {
	c := newCluster(t)
	const rows = 5000
	d := newDataset(t, c, "frozen", rows)
	d.fill(d.tgt, rows)
	d.exec(d.src, d.auditSQL("log_src")...)
	d.exec(d.tgt, "DROP DATABASE IF EXISTS `"+d.db+"_audit`")
	d.exec(d.tgt, d.auditSQL("log_dst")...)
	// Which session applied each change: the frozen agent's sessions are
	// known by their ids.
	audit := "`" + d.db + "_audit`.log_dst"
	d.exec(d.tgt, "ALTER TABLE "+audit+" ADD COLUMN conn BIGINT DEFAULT CONNECTION_ID()")

	a := c.startAgent("a", "--lease-ttl", "5s")
	waitWorkers(c, 1)
	c.writeYAML("source.yaml", d.sourceYAML())
	c.writeYAML("task.yaml", d.incrementalTaskYAML("running", ""))
	c.apply()
	c.waitStage(60*time.Second, d.name, "src-"+d.name, spec.StageRunning, syncing("a"))
	c.startAgent("b", "--lease-ttl", "5s")
	waitWorkers(c, 2)

	w := d.startWriter(200)
	applied := func() (n int64) {
		if err := d.tgt.QueryRow("SELECT COUNT(*) FROM " + audit).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitFor(t, 60*time.Second, "changes applied by agent a", func() (bool, error) { return applied() >= 300, nil })

	// Hold a's appliers up on t2's rows, so that it freezes with
	// transactions open and changes queued: what it does with them when it
	// continues is what the fence is for.
	blocker, err := d.tgt.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	for _, q := range []string{"START TRANSACTION", "SELECT COUNT(*) FROM `" + d.db + "`.t2 FOR UPDATE"} {
		if _, err := blocker.ExecContext(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 60*time.Second, "agent a's appliers to wait for t2's rows", func() (bool, error) {
		// InnoDB serves INNODB_TRX from a cache that it fills again only
		// when nobody has read it for 100 ms (CACHE_MIN_IDLE_TIME_US in
		// trx0i_s.cc): read every 20 ms, as waitFor polls, it shows the
		// transactions of its first read for ever (on a quiet machine the
		// applier's wait was never seen, while the agent logged a lock
		// wait timeout on t2 50 s later). Read it 4 times a second.
		time.Sleep(innodbTrxCacheIdle)
		var n int
		err := d.tgt.QueryRow("SELECT COUNT(*) FROM INFORMATION_SCHEMA.INNODB_TRX WHERE trx_state = 'LOCK WAIT'").Scan(&n)
		return n > 0, err
	})
	ops := w.ops.Load()
	waitFor(t, 60*time.Second, "more writes to queue up in agent a", func() (bool, error) { return w.ops.Load() >= ops+100, nil })

	// Freeze a. Its target sessions (the task's target user) stay open;
	// its blocked statements go on on the server once t2 is released.
	ids := d.targetSessions(t)
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if _, err := blocker.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	continued := false
	t.Cleanup(func() {
		if !continued {
			_ = a.cmd.Process.Signal(syscall.SIGCONT) // so that the cleanup can stop it
		}
	})
	// What a committed before it froze (a commit already on the wire may
	// land just after the signal).
	byA := func() (n int64) {
		if err := d.tgt.QueryRow("SELECT COUNT(*) FROM " + audit + " WHERE conn IN (" + ids + ")").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	last := int64(-1)
	waitFor(t, 30*time.Second, "agent a's commits to stop", func() (bool, error) {
		n := byA()
		same := n == last
		last = n
		if !same {
			time.Sleep(500 * time.Millisecond)
		}
		return same, nil
	})
	before := last

	// b takes the source over and applies the changes made meanwhile.
	st, _ := c.waitStage(120*time.Second, d.name, "src-"+d.name, spec.StageRunning, func(s store.SubtaskStatus) bool {
		return s.Worker == "b" && s.Unit == "sync"
	})
	took := time.Since(frozen)
	mark := applied()
	waitFor(t, 120*time.Second, "changes applied by agent b", func() (bool, error) { return applied() >= mark+200, nil })
	t.Logf("FIGURE agent a frozen (SIGSTOP) during sync -> source syncing on %s after %s (lease TTL 5s, fence bound 10s)",
		st.Worker, took.Round(100*time.Millisecond))

	// a continues: its lease and its lock are gone; it must write nothing.
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	continued = true
	waitWorkers(c, 2) // a fenced itself and registered again
	mark = applied()
	waitFor(t, 120*time.Second, "more changes applied after agent a continued", func() (bool, error) { return applied() >= mark+200, nil })
	if s, _, err := c.status(d.name, "src-"+d.name); err != nil || s.Worker != "b" {
		t.Fatalf("after a continued the source is served by %q (err %v), want b", s.Worker, err)
	}

	n := w.halt(t)
	d.waitEqual(120 * time.Second)
	d.auditSame(t, d.src, d.tgt)
	if after := byA(); after != before {
		t.Fatalf("agent a's target sessions committed %d changes after it was frozen (before: %d)", after-before, before)
	}
	t.Logf("%d writes; agent a committed %d changes before the freeze and none after", n, before)
}

// innodbTrxCacheIdle spaces reads of INFORMATION_SCHEMA.INNODB_TRX: InnoDB
// refills the table's cache only after 100 ms without a read.
const innodbTrxCacheIdle = 250 * time.Millisecond

// targetSessions lists the ids of the target sessions of the dataset's
// target user (as SQL), failing when there are none.
func (d *dataset) targetSessions(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := d.tgt.QueryContext(ctx, "SELECT ID FROM INFORMATION_SCHEMA.PROCESSLIST WHERE USER = ?", d.tgtUser)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, fmt.Sprint(id))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(ids) == 0 {
		t.Fatalf("no target session of %s", d.tgtUser)
	}
	return strings.Join(ids, ",")
}
