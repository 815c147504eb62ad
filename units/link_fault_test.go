package units

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/faultproxy"
	"github.com/dmplan/dmplan/internal/mariadbtest"
)

// Faults on real links: a faultproxy between the unit and its source, and
// another between the unit and its target. A blackhole accepts bytes and
// never answers, as a frozen peer or a broken middlebox does: TCP sees
// nothing wrong, only the link watch (link.go) can tell. The figures the
// tests log ("FIGURE ...") are the ones docs/faults.md publishes:
//
//	go test ./units -run TestLinkFaults -v | grep FIGURE

// TestLinkFaults runs the fault tests on one pair of servers.
func TestLinkFaults(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	t.Run("sync", func(t *testing.T) { testLinkFaultSync(t, p) })
	t.Run("copy", func(t *testing.T) { testLinkFaultCopy(t, p) })
	t.Run("slowTarget", func(t *testing.T) { testLinkSlowTarget(t, p) })
	t.Run("relay", func(t *testing.T) { testLinkFaultRelay(t, p) })
}

// syLinkTimeout is the tests' Config.LinkTimeout (10 s by default).
const syLinkTimeout = 2 * time.Second

// syProxy starts a fault proxy in front of s.
func syProxy(t testing.TB, s *mariadbtest.Server) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.Start(fmt.Sprintf("127.0.0.1:%d", s.Port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// syLines records the unit's log lines with the time they were written.
type syLines struct {
	mu    sync.Mutex
	lines []syLine
}

type syLine struct {
	at   time.Time
	text string
}

func (l *syLines) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		l.lines = append(l.lines, syLine{time.Now(), string(s)})
	}
	return len(b), nil
}

// wait returns the time of the first line after since that contains
// every one of subs.
func (l *syLines) wait(t testing.TB, since time.Time, timeout time.Duration, subs ...string) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		l.mu.Lock()
		for _, ln := range l.lines {
			if ln.at.Before(since) {
				continue
			}
			ok := true
			for _, s := range subs {
				ok = ok && strings.Contains(ln.text, s)
			}
			if ok {
				l.mu.Unlock()
				return ln.at
			}
		}
		l.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q within %v", subs, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syWaitPos waits until the run reports a position at or after want and
// returns when.
func syWaitPos(t testing.TB, r *syRunning, want Position, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if pr := r.last.Load(); pr != nil && pr.Unit == "sync" && pr.Position.File != "" && ComparePositions(pr.Position, want) >= 0 {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("sync did not reach %s within %v (last progress %+v)", describePos(want), timeout, r.last.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syBlackhole blackholes px until the unit's log says the link is lost,
// heals it, and returns the blackhole's start, the detection and the heal.
func syBlackhole(t testing.TB, px *faultproxy.Proxy, lines *syLines, role string) (cut, detected, healed time.Time) {
	t.Helper()
	cut = time.Now()
	px.Set(faultproxy.Blackhole)
	detected = lines.wait(t, cut, 20*syLinkTimeout, "link lost", role)
	px.Set(faultproxy.Pass)
	return cut, detected, time.Now()
}

// testLinkFaultSync blackholes the source, then the target, while sync
// applies a stream of writes; each time the unit notices within the link
// timeout, retries, and resumes from its checkpoint once the link heals. A
// stop while the target is blackholed returns within the agent's stop
// bound. Every change is applied exactly once (audit triggers).
func testLinkFaultSync(t *testing.T, p *syPair) {
	syExec(t, p.srcDB, "DROP DATABASE IF EXISTS c")
	syExec(t, p.dstDB, "DROP DATABASE IF EXISTS c")
	cfg := p.config("linkfault", ModeIncremental, []string{"c.*", "!c.log_*"})
	cfg.Start = syAuditSetup(t, p)
	ps, pt := syProxy(t, p.src), syProxy(t, p.dst)
	cfg.From.Port, cfg.To.Port = ps.Port(), pt.Port()
	cfg.LinkTimeout = syLinkTimeout
	lines := &syLines{}
	log := syLog(t, lines)
	w := syStartWriterRate(t, p.srcDB, 11, 200)
	r := syStart(t, cfg, log)
	syWaitPos(t, r, syMasterPos(t, p), 60*time.Second)

	for _, f := range []struct {
		role string
		px   *faultproxy.Proxy
	}{{"source", ps}, {"target", pt}} {
		cut, detected, healed := syBlackhole(t, f.px, lines, f.role)
		behind := syMasterPos(t, p) // written meanwhile: must arrive
		resumed := syWaitPos(t, r, behind, 60*time.Second)
		t.Logf("FIGURE %s blackholed during sync: detected after %s (link timeout %s); after healing, caught up with the writes made meanwhile in %s",
			f.role, detected.Sub(cut).Round(10*time.Millisecond), syLinkTimeout, resumed.Sub(healed).Round(10*time.Millisecond))
	}

	// A stop while the target does not answer.
	pt.Set(faultproxy.Blackhole)
	time.Sleep(300 * time.Millisecond) // statements in flight into the hole
	began := time.Now()
	if err := r.stop(t); err != context.Canceled {
		t.Fatalf("Run returned %v", err)
	}
	t.Logf("FIGURE stop while the target is blackholed: Run returned after %s (the agent waits 10 s at most)", time.Since(began).Round(10*time.Millisecond))
	pt.Set(faultproxy.Pass)

	w.stop()
	t.Logf("writer made %d changes", w.ops.Load())
	r = syStart(t, cfg, log)
	syWaitCaughtUp(t, p, r, 60*time.Second)
	syWaitSame(t, p, 30*time.Second, "c.acct=c.acct", "c.nokey=c.nokey", "c.uk=c.uk")
	r.stop(t)
	syAuditSame(t, p)
}

// testLinkFaultCopy blackholes the source while the dump reads and the
// target while the load writes (mode all, under writes): each time the
// unit notices within the link timeout and resumes from the chunks it
// loaded; sync then catches up, and every table, the one without a key
// included (a chunk loaded twice would show), ends equal to the source.
func testLinkFaultCopy(t *testing.T, p *syPair) {
	const rows = 200000
	syExec(t, p.srcDB, "CREATE DATABASE f",
		"CREATE TABLE f.big (id INT PRIMARY KEY, k INT NOT NULL, pad CHAR(200) NOT NULL)",
		"CREATE TABLE f.nokey (k INT NOT NULL, v INT NOT NULL)",
		fmt.Sprintf("INSERT INTO f.big SELECT seq, seq %% 977, REPEAT('x', 200) FROM f.seq_1_to_%d", rows),
		"INSERT INTO f.nokey SELECT seq % 50, seq FROM f.seq_1_to_20000")
	stopWrites := syRandomWrites(2, func(ctx context.Context, rng *rand.Rand) {
		switch id := 1 + rng.IntN(rows+5000); rng.IntN(4) {
		case 0:
			p.srcDB.ExecContext(ctx, "REPLACE INTO f.big VALUES (?, ?, 'w')", id, rng.IntN(1000))
		case 1:
			p.srcDB.ExecContext(ctx, "UPDATE f.big SET k = k + 1 WHERE id = ?", id)
		case 2:
			p.srcDB.ExecContext(ctx, "DELETE FROM f.big WHERE id = ?", id)
		default:
			p.srcDB.ExecContext(ctx, "INSERT INTO f.nokey VALUES (?, ?)", rng.IntN(50), rng.IntN(1000))
		}
		time.Sleep(2 * time.Millisecond)
	})
	defer stopWrites()
	cfg := p.config("linkcopy", ModeAll, []string{"f.*"})
	ps, pt := syProxy(t, p.src), syProxy(t, p.dst)
	cfg.From.Port, cfg.To.Port = ps.Port(), pt.Port()
	cfg.LinkTimeout = syLinkTimeout
	lines := &syLines{}
	r := syStart(t, cfg, syLog(t, lines))

	copying := func(lo, hi int64) bool {
		pr := r.last.Load()
		return pr != nil && (pr.Unit == "dump" || pr.Unit == "load") && pr.RowsDone >= lo && pr.RowsDone < hi
	}
	faults := 0
	for _, f := range []struct {
		role, unit string
		px         *faultproxy.Proxy
		lo, hi     int64
	}{{"source", "dump", ps, 1, rows / 3}, {"target", "load", pt, rows / 3, rows * 9 / 10}} {
		deadline := time.Now().Add(90 * time.Second)
		for !copying(f.lo, f.hi) && time.Now().Before(deadline) {
			if pr := r.last.Load(); pr != nil && pr.Unit == "sync" {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if !copying(f.lo, f.hi) {
			t.Logf("the copy was past %d rows before the %s could be blackholed during %s (%+v)", f.hi, f.role, f.unit, r.last.Load())
			continue
		}
		done := r.last.Load().RowsDone
		cut, detected, healed := syBlackhole(t, f.px, lines, f.role)
		resumed := lines.wait(t, healed, 120*time.Second, "copying tables") // the next attempt of DumpLoad
		faults++
		t.Logf("FIGURE %s blackholed during %s (%d of %d rows loaded): detected after %s (link timeout %s); copying again %s after healing",
			f.role, f.unit, done, rows, detected.Sub(cut).Round(10*time.Millisecond), syLinkTimeout, resumed.Sub(healed).Round(10*time.Millisecond))
	}
	if faults == 0 {
		t.Fatal("the copy ended before any fault could be injected")
	}
	stopWrites()
	syWaitCaughtUp(t, p, r, 120*time.Second)
	syChecksumsEqual(t, p, 30*time.Second, [2]string{"f.big", "f.big"}, [2]string{"f.nokey", "f.nokey"})
	r.stop(t)
}

// testLinkSlowTarget puts 200 ms of latency each way between the unit and
// its target while about 200 transactions a second are written to the
// source, each like sysbench's oltp_write_only (two updates, a delete and
// an insert of random rows: four row changes), with the product's default
// tuning (8 workers, batches of 100): sync keeps up, its lag stays
// bounded, and every change arrives exactly once. The bound asserted is
// generous (a sync that could not keep up would fall further behind with
// every second of writes); the figures are logged.
func testLinkSlowTarget(t *testing.T, p *syPair) {
	syExec(t, p.srcDB, "DROP DATABASE IF EXISTS c")
	syExec(t, p.dstDB, "DROP DATABASE IF EXISTS c")
	cfg := p.config("slowlink", ModeIncremental, []string{"c.*", "!c.log_*"})
	cfg.Start = syAuditSetup(t, p)
	syExec(t, p.srcDB, "INSERT INTO c.acct SELECT seq, 0, 0, 'r' FROM c.seq_4_to_2000")
	cfg.SyncWorkers, cfg.SyncBatch = 0, 0 // the defaults
	pt := syProxy(t, p.dst)
	pt.SetDelay(200 * time.Millisecond)
	cfg.To.Port = pt.Port()
	r := syStart(t, cfg, syLog(t))
	syWaitPos(t, r, syMasterPos(t, p), 120*time.Second)

	const writing = 20 * time.Second
	var txs atomic.Int64
	stop := syRandomWrites(1, func(ctx context.Context, rng *rand.Rand) {
		tick := time.NewTicker(5 * time.Millisecond) // 200 a second
		defer tick.Stop()
		for ctx.Err() == nil {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
			id := 1 + rng.IntN(2000)
			tx, err := p.srcDB.BeginTx(ctx, nil)
			if err != nil {
				continue
			}
			for _, q := range []string{
				fmt.Sprintf("UPDATE c.acct SET bal = bal + 1, ver = ver + 1 WHERE id = %d", 1+rng.IntN(2000)),
				fmt.Sprintf("UPDATE c.acct SET note = 'n%d', ver = ver + 1 WHERE id = %d", rng.IntN(1000), 1+rng.IntN(2000)),
				fmt.Sprintf("DELETE FROM c.acct WHERE id = %d", id),
				fmt.Sprintf("INSERT INTO c.acct VALUES (%d, %d, 0, 'i')", id, rng.IntN(1000)),
			} {
				if _, err = tx.ExecContext(ctx, q); err != nil {
					break
				}
			}
			if err == nil && tx.Commit() == nil {
				txs.Add(1)
			} else {
				tx.Rollback()
			}
		}
	})
	start := time.Now()
	var lags []time.Duration
	var maxLate time.Duration // the largest lag in the second half of the writes
	for time.Since(start) < writing {
		time.Sleep(250 * time.Millisecond)
		if pr := r.last.Load(); pr != nil {
			lags = append(lags, pr.Lag)
			if time.Since(start) > writing/2 {
				maxLate = max(maxLate, pr.Lag)
			}
		}
	}
	stop()
	rate := float64(txs.Load()) / time.Since(start).Seconds()
	stopped := time.Now()
	caught := syWaitPos(t, r, syMasterPos(t, p), 120*time.Second)
	syWaitSame(t, p, 30*time.Second, "c.acct=c.acct", "c.nokey=c.nokey", "c.uk=c.uk")
	r.stop(t)
	syAuditSame(t, p)
	slices.Sort(lags)
	if len(lags) == 0 {
		t.Fatal("no progress reported while writing")
	}
	t.Logf("FIGURE slow link (200 ms each way to the target): %.0f tx/s (4 row changes each) for %s: lag median %s, max %s (second half %s); caught up %s after the writes stopped",
		rate, writing, lags[len(lags)/2].Round(10*time.Millisecond), lags[len(lags)-1].Round(10*time.Millisecond),
		maxLate.Round(10*time.Millisecond), caught.Sub(stopped).Round(10*time.Millisecond))
	if maxLate > writing/2 {
		t.Fatalf("sync fell behind the writes over a 200 ms link: lag reached %s in the second half of %s of writes", maxLate, writing)
	}
}

// testLinkFaultRelay blackholes the source of a relay while a subtask
// syncs from the relay under writes: the relay's attempt ends within the
// link timeout (its own link watch: the binlog stream alone would wait for
// its 30 s heartbeat silence), starts again from the end of its files once
// the link heals, and the subtask applies every change exactly once.
func testLinkFaultRelay(t *testing.T, p *syPair) {
	syExec(t, p.srcDB, "DROP DATABASE IF EXISTS c")
	syExec(t, p.dstDB, "DROP DATABASE IF EXISTS c")
	cfg := p.config("linkrelay", ModeIncremental, []string{"c.*", "!c.log_*"})
	cfg.Start = syAuditSetup(t, p)
	ps := syProxy(t, p.src)
	lines := &syLines{}
	log := syLog(t, lines)
	rel := NewRelay(filepath.Join(t.TempDir(), "relay"))
	cfg.Relay = rel
	from := syEndpoint(p.src)
	from.Port = ps.Port()
	startRelayLog(t, rel, RelayConfig{Source: "src", From: from, Retain: time.Hour, LinkTimeout: syLinkTimeout,
		Subtasks: func() []Config { return []Config{cfg} }}, log)
	w := syStartWriterRate(t, p.srcDB, 13, 200)
	r := syStart(t, cfg, log)
	syWaitPos(t, r, syMasterPos(t, p), 60*time.Second)

	cut := time.Now()
	ps.Set(faultproxy.Blackhole)
	detected := lines.wait(t, cut, 20*syLinkTimeout, "link lost", "relay's attempt")
	ps.Set(faultproxy.Pass)
	healed := time.Now()
	behind := syMasterPos(t, p) // written meanwhile: must arrive through the relay
	resumed := syWaitPos(t, r, behind, 60*time.Second)
	t.Logf("FIGURE relay's source blackholed: the relay's attempt ended after %s (link timeout %s); after healing, the subtask reading the relay caught up with the writes made meanwhile in %s",
		detected.Sub(cut).Round(10*time.Millisecond), syLinkTimeout, resumed.Sub(healed).Round(10*time.Millisecond))
	w.stop()
	syWaitCaughtUp(t, p, r, 60*time.Second)
	syWaitSame(t, p, 30*time.Second, "c.acct=c.acct", "c.nokey=c.nokey", "c.uk=c.uk")
	r.stop(t)
	syAuditSame(t, p)
}
