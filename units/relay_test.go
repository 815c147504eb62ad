package units

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dmplan/dmplan/units/relay"
)

// relayRunning is a Relay.Run in a goroutine.
type relayRunning struct {
	rel    *Relay
	cancel context.CancelFunc
	done   chan error
}

func startRelay(t testing.TB, rel *Relay, cfg RelayConfig) *relayRunning {
	t.Helper()
	return startRelayLog(t, rel, cfg, syLog(t))
}

func startRelayLog(t testing.TB, rel *Relay, cfg RelayConfig, log *slog.Logger) *relayRunning {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &relayRunning{rel: rel, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- rel.Run(ctx, cfg, log) }()
	t.Cleanup(r.stop)
	return r
}

func (r *relayRunning) stop() {
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err
	case <-time.After(30 * time.Second):
		panic("relay did not stop within 30 s")
	}
}

// relayWaitCaughtUp waits until the relay holds the source's binlog up to
// its current end.
func relayWaitCaughtUp(t testing.TB, p *syPair, rel *Relay, timeout time.Duration) {
	t.Helper()
	want := syMasterPos(t, p)
	deadline := time.Now().Add(timeout)
	for {
		f, pos, err := relayEnd(rel.Dir())
		if err == nil && f != "" && ComparePositions(Position{File: f, Pos: pos}, want) >= 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the relay did not reach %s within %v (it is at %s:%d, %v; status %+v)", describePos(want), timeout, f, pos, err, rel.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func relayEnd(dir string) (string, uint32, error) {
	files, err := relay.ReadIndex(dir)
	if err != nil || len(files) == 0 {
		return "", 0, err
	}
	st, err := os.Stat(filepath.Join(dir, files[len(files)-1]))
	if err != nil {
		return "", 0, err
	}
	return files[len(files)-1], uint32(st.Size()), nil
}

// relaySameAsSource checks that every relay file the source still has is
// the source's file byte for byte.
func relaySameAsSource(t testing.TB, p *syPair, dir string) {
	t.Helper()
	files, err := relay.ReadIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, f := range files {
		want, err := os.ReadFile(filepath.Join(p.src.Dir, "data", f))
		if os.IsNotExist(err) {
			continue // purged on the source
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		// The source's file in use has LOG_EVENT_BINLOG_IN_USE_F in its
		// description event's flags; a stream never sends it.
		if len(want) > 21 {
			want[21] &^= 1
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("relay file %s differs from the source's: %d bytes, the source's %d, first at %d", f, len(got), len(want), firstDiff(got, want))
		}
		compared++
	}
	if compared == 0 {
		t.Fatalf("no relay file to compare (relay holds %v)", files)
	}
}

// relayDumpConnections counts the binlog dump connections on the source.
func relayDumpConnections(t testing.TB, p *syPair) int {
	t.Helper()
	var n int
	if err := p.srcDB.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRelaySync: three subtasks of one source read one relay (one binlog
// connection on the source), while the source writes, rotates and purges
// its binlogs; the relay's files are the source's byte for byte; after a
// torn write (a relay cut mid-event, as a kill -9 leaves it) the relay is
// repaired, and no change is lost or applied twice.
func TestRelaySync(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	start := syAuditSetup(t, p)
	rel := NewRelay(filepath.Join(t.TempDir(), "relay", "src"))
	var cfgs []Config
	for _, task := range []string{"ra", "rb", "rc"} {
		cfg := p.config(task, ModeIncremental, []string{"c.acct", "c.nokey", "c.uk"})
		cfg.Start, cfg.Relay = start, rel
		cfgs = append(cfgs, cfg)
	}
	// Only the first task writes the audited target tables; the others
	// route theirs to schemas of their own.
	syExec(t, p.dstDB, "CREATE DATABASE rb", "CREATE DATABASE rc")
	for _, db := range []string{"rb", "rc"} {
		for _, tb := range []string{"acct", "nokey", "uk"} {
			syExec(t, p.dstDB, "CREATE TABLE "+db+"."+tb+" LIKE c."+tb)
		}
	}
	for i, db := range []string{"rb", "rc"} {
		for _, tb := range []string{"acct", "nokey", "uk"} {
			cfgs[i+1].Routes = append(cfgs[i+1].Routes, Route{From: "c." + tb, To: db + "." + tb})
		}
	}
	rcfg := RelayConfig{Source: "src", From: syEndpoint(p.src), Retain: time.Hour, Subtasks: func() []Config { return cfgs }}
	rr := startRelay(t, rel, rcfg)
	log := syLog(t)
	runs := []*syRunning{syStart(t, cfgs[0], log), syStart(t, cfgs[1], log), syStart(t, cfgs[2], log)}

	w := syStartWriter(t, p.srcDB, 11)
	for i := 0; i < 3; i++ {
		time.Sleep(300 * time.Millisecond)
		syExec(t, p.srcDB, "FLUSH BINARY LOGS")
	}
	relayWaitCaughtUp(t, p, rel, time.Minute)
	cur := syMasterPos(t, p)
	syExec(t, p.srcDB, "PURGE BINARY LOGS TO '"+cur.File+"'")
	if n := relayDumpConnections(t, p); n != 1 {
		t.Errorf("binlog dump connections on the source: %d, want 1 (the relay's)", n)
	}
	time.Sleep(300 * time.Millisecond)
	w.stop()
	relayWaitCaughtUp(t, p, rel, time.Minute)
	for _, r := range runs {
		syWaitCaughtUp(t, p, r, time.Minute)
	}
	syAuditSame(t, p)
	for _, db := range []string{"rb", "rc"} {
		syWaitSame(t, p, 30*time.Second, db+".acct=c.acct", db+".uk=c.uk")
	}
	relaySameAsSource(t, p, rel.Dir())

	// A torn write: stop everything, cut the relay's newest file in the
	// middle of its last event, start again with more writes.
	for _, r := range runs {
		r.stop(t)
	}
	rr.stop()
	f, size, err := relayEnd(rel.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(rel.Dir(), f), int64(size)-7); err != nil {
		t.Fatal(err)
	}
	rr = startRelay(t, rel, rcfg)
	r2 := syStart(t, cfgs[0], log)
	w = syStartWriter(t, p.srcDB, 12)
	time.Sleep(500 * time.Millisecond)
	w.stop()
	relayWaitCaughtUp(t, p, rel, time.Minute)
	syWaitCaughtUp(t, p, r2, time.Minute)
	syAuditSame(t, p)
	relaySameAsSource(t, p, rel.Dir())

	// Gone upstream: the subtasks stop, the source rotates and purges past
	// their checkpoints, and the source moves to an agent without the
	// relay: its relay records the file gone, its status says so, and the
	// subtask stops with a permanent error saying what to do.
	r2.stop(t)
	rr.stop()
	checkpoint := syMasterPos(t, p)
	syExec(t, p.srcDB, "FLUSH BINARY LOGS", "UPDATE c.acct SET ver = ver + 1 WHERE id = 1")
	for deadline := time.Now().Add(30 * time.Second); relayDumpConnections(t, p) > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the stopped relay's binlog dump is still on the source after 30 s")
		}
	}
	// MariaDB purges a file only once its binlog checkpoint has moved past
	// it (asynchronously after the rotation): ask until it has.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		syExec(t, p.srcDB, "PURGE BINARY LOGS TO '"+syMasterPos(t, p).File+"'")
		var oldest string
		var fsize any
		if err := p.srcDB.QueryRow("SHOW BINARY LOGS").Scan(&oldest, &fsize); err != nil {
			t.Fatal(err)
		}
		if oldest != checkpoint.File {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the source did not purge %s within 30 s", checkpoint.File)
		}
	}
	fresh := NewRelay(filepath.Join(t.TempDir(), "relay", "src"))
	startRelay(t, fresh, rcfg)
	deadline := time.Now().Add(time.Minute)
	for fresh.Status().Gone == "" {
		if time.Now().After(deadline) {
			t.Fatalf("the new relay does not say the checkpoint's file %s is gone: %+v", checkpoint.File, fresh.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := fresh.Status(); !strings.Contains(st.Gone, checkpoint.File) || !strings.Contains(st.Gone, "source purged") {
		t.Errorf("relay status gone = %q, want %s and why", st.Gone, checkpoint.File)
	}
	cfg := cfgs[0]
	cfg.Relay = fresh
	r3 := syStart(t, cfg, log)
	var runErr error
	select {
	case runErr = <-r3.done:
		r3.done <- runErr // for the cleanup
	case <-time.After(time.Minute):
		t.Fatalf("the subtask did not stop on the gone position (last progress %+v)", r3.last.Load())
	}
	if !errors.Is(runErr, ErrPermanent) || !strings.Contains(runErr.Error(), checkpoint.File) || !strings.Contains(runErr.Error(), "fresh dump") {
		t.Fatalf("the subtask stopped with %v, want a permanent error naming %s and what to do", runErr, checkpoint.File)
	}
	t.Logf("gone upstream: relay status %q; subtask: %v", fresh.Status().Gone, runErr)
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
