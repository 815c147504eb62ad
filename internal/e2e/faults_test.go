package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/faultproxy"
	"github.com/dmplan/dmplan/spec"
)

// logLine is one line of an agent's JSON log.
type logLine struct {
	Time    time.Time `json:"time"`
	Msg     string    `json:"msg"`
	Err     string    `json:"err"`
	Subtask string    `json:"subtask"`
}

// logLines reads a process's JSON log.
func logLines(t *testing.T, p *proc) []logLine {
	t.Helper()
	f, err := os.Open(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// waitLog waits for a line of p's log after since that matches and
// returns its time.
func waitLog(t *testing.T, p *proc, since time.Time, d time.Duration, what string, match func(logLine) bool) time.Time {
	t.Helper()
	var at time.Time
	waitFor(t, d, what, func() (bool, error) {
		for _, l := range logLines(t, p) {
			if !l.Time.Before(since) && match(l) {
				at = l.Time
				return true, nil
			}
		}
		return false, nil
	})
	return at
}

// The link between an agent and etcd is blackholed while the agent
// syncs a source under writes: the agent cannot renew its lease, stops its
// units before the lease can expire, and another agent takes the source
// over once it has. When the link heals, the old agent registers again and
// starts nothing of what it served: no stale write reaches the target or
// etcd (statuses stay the new owner's; the audit finds every change
// applied exactly once; the tables end equal).
func TestFaultEtcdBlackholed(t *testing.T) {
	c := newCluster(t)
	d := newDataset(t, c, "etcdcut", 20000)
	px, err := faultproxy.Start(c.endpoints)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	a := c.startAgentAt("a", px.Addr()) // lease TTL 2s
	waitWorkers(c, 1)
	c.writeYAML("source.yaml", d.sourceYAML())
	c.writeYAML("task.yaml", d.taskYAML("running"))
	c.apply()
	w := d.startWriter(100)
	c.waitStage(60*time.Second, "etcdcut", "src-etcdcut", spec.StageRunning, syncing("a"))
	c.startAgent("b")
	waitWorkers(c, 2)
	d.waitEqualAfter(w)
	d.startAudit()
	w = d.startWriter(100)
	time.Sleep(time.Second) // changes flow through agent a

	cut := time.Now()
	px.Set(faultproxy.Blackhole)
	fenced := waitLog(t, a, cut, 30*time.Second, "agent a to stop its units", func(l logLine) bool {
		return strings.Contains(l.Err, "no keepalive answer") || strings.Contains(l.Err, "lease expired")
	})
	st, _ := c.waitStage(60*time.Second, "etcdcut", "src-etcdcut", spec.StageRunning, syncing("b"))
	took := time.Now()
	t.Logf("FIGURE agent<->etcd blackholed (lease TTL 2s): agent a stopped its units after %s; the source syncing on agent %s after %s",
		fenced.Sub(cut).Round(10*time.Millisecond), st.Worker, took.Sub(cut).Round(10*time.Millisecond))

	healed := time.Now()
	px.Set(faultproxy.Pass)
	back := waitLog(t, a, healed, 60*time.Second, "agent a to register again", func(l logLine) bool { return l.Msg == "registered" })
	t.Logf("FIGURE agent<->etcd healed: agent a registered again after %s", back.Sub(healed).Round(10*time.Millisecond))
	// A few seconds with agent a registered: the source stays on b.
	settle := time.Now().Add(4 * time.Second)
	for time.Now().Before(settle) {
		s, ok, err := c.status("etcdcut", "src-etcdcut")
		if err == nil && ok && s.Worker != "b" {
			t.Fatalf("after healing, the subtask's status is agent %s's: %+v", s.Worker, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, l := range logLines(t, a) {
		if l.Time.After(fenced) && l.Subtask == "etcdcut/src-etcdcut" && (l.Msg == "start" || l.Msg == "restart") {
			t.Fatalf("agent a started the subtask again after it lost its lease: %+v", l)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	snap, err := c.st.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if w := snap.State.Bounds["src-etcdcut"]; w != "b" {
		t.Fatalf("source bound to %q after healing, want b", w)
	}
	n := w.halt(t)
	d.waitEqual(60 * time.Second)
	d.auditSame(t, d.src, d.tgt)
	t.Logf("%d writes during the test", n)
}

// startAudit starts the audit of t1 (auditSQL) on a running task: the
// writer must be halted and the target equal to the source, so that both
// logs start from the same rows. The source's triggers stay out of its
// binlog: they are the test's, not the source's history.
func (d *dataset) startAudit() {
	d.t.Helper()
	for _, side := range []struct {
		db  *sql.DB
		log string
	}{{d.src, "log_src"}, {d.tgt, "log_dst"}} {
		ctx := context.Background()
		conn, err := side.db.Conn(ctx)
		if err != nil {
			d.t.Fatal(err)
		}
		for _, q := range append([]string{"SET SESSION sql_log_bin = 0", "DROP DATABASE IF EXISTS `" + d.db + "_audit`"}, d.auditSQL(side.log)...) {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				d.t.Fatalf("%s: %v", q, err)
			}
		}
		conn.Close()
	}
}

// waitEqualAfter halts w and waits until the target equals the source.
func (d *dataset) waitEqualAfter(w *writer) {
	d.t.Helper()
	w.halt(d.t)
	d.waitEqual(60 * time.Second)
}
