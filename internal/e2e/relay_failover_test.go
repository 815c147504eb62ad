package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/spec"
	"github.com/dmplan/dmplan/units/relay"
)

// TestRelayFailover, from YAML with the source's relay on, under writes,
// every change of t1 audited on both sides:
//
//  1. kill -9 of the agent in the middle of a relay write: the agent is
//     frozen (SIGSTOP) until its newest relay file ends inside an event,
//     then killed (SIGKILL); restarted, it cuts the file after its last
//     whole event and the subtask goes on;
//  2. the agent killed again, the source fails over to another agent,
//     whose relay starts at the subtask's checkpoint (read from the
//     target) with the source still holding the binlogs;
//  3. that agent killed too, the source goes back to the first agent, the
//     live agent that holds its relay, rather than to a third agent
//     without one that sorts first (planner.Schedule's preference).
//
// At the end the target equals the source and every change was applied
// exactly once.
func TestRelayFailover(t *testing.T) {
	c := newCluster(t)
	d := newDataset(t, c, "relayfo", 5000)
	dir := t.TempDir()
	relayDir := func(agent string) []string { return []string{"--relay-dir", filepath.Join(dir, agent)} }
	src := "src-" + d.name
	c.startAgent("r", relayDir("r")...)
	waitWorkers(c, 1)
	c.writeYAML("source.yaml", d.sourceYAML()+relayYAML)
	c.writeYAML("task.yaml", d.taskYAML("running"))
	c.apply()
	w := d.startWriter(100)
	c.waitStage(60*time.Second, d.name, src, spec.StageRunning, syncing("r"))
	d.waitEqualAfter(w)
	d.startAudit()
	w = d.startWriter(100)

	// 1. kill -9 in the middle of a relay write. Big transactions on a
	// table the task does not select keep the relay writing (it stores
	// every event of the source). A SIGKILL of the agent alone leaves what
	// it wrote in the page cache, so the file ends inside an event only
	// when the kill lands between the write of a full buffer and the next
	// (microseconds): the agent is frozen (SIGSTOP) at random moments until
	// it does, for a while. When it never did, the file is cut in the
	// middle of its last event after the kill, as a crash of the machine
	// that lost the last write leaves it, so that the repair runs.
	stopBig := bigTransactions(t, d)
	relayR := filepath.Join(dir, "r", src)
	cut, looks, torn := tornKill(t, c.agents["r"], relayR, 15*time.Second)
	stopBig()
	if torn {
		t.Logf("agent r killed (SIGKILL) with its relay file %s ending inside an event (%d bytes after the last whole one), after %d looks", cut.File, cut.Cut, looks)
	} else {
		cut = cutLastEvent(t, relayR)
		t.Logf("agent r killed (SIGKILL) mid-relay-write; in %d looks its relay file never ended inside an event (the page cache keeps every write): cut %s in the middle of its last event instead (%d bytes)", looks, cut.File, cut.Cut)
	}
	restarted := time.Now()
	c.startAgent("r", relayDir("r")...)
	line := waitRaw(t, c.agents["r"], restarted, 60*time.Second, "the relay's repair", "relay: repaired a torn tail")
	if !strings.Contains(line, cut.File) || !strings.Contains(line, fmt.Sprintf(`"size":%d`, cut.Size)) {
		t.Errorf("the repair is not the cut of %s to %d bytes: %s", cut.File, cut.Size, line)
	}
	c.waitStage(60*time.Second, d.name, src, spec.StageRunning, syncing("r"))
	relayPrefixOfSource(t, relayR, filepath.Join(d.srv.Dir, "data"))

	// 2. failover to an agent without the relay.
	c.startAgent("s", relayDir("s")...)
	waitWorkers(c, 2)
	time.Sleep(500 * time.Millisecond) // changes flow through r
	killed := time.Now()
	c.agents["r"].kill()
	st, took := c.waitStage(60*time.Second, d.name, src, spec.StageRunning, syncing("s"))
	from := waitRaw(t, c.agents["s"], killed, 30*time.Second, "agent s's relay to start", "relay reading the source's binlog")
	t.Logf("agent r killed: the source syncs on %s %s later; its relay: %s", st.Worker, took, from)

	// 3. back to the agent holding the relay, not to "a", which sorts first.
	c.startAgent("r", relayDir("r")...)
	c.startAgent("a", relayDir("a")...)
	waitWorkers(c, 3)
	time.Sleep(500 * time.Millisecond) // changes flow through s
	c.agents["s"].kill()
	st, took = c.waitStage(60*time.Second, d.name, src, spec.StageRunning, func(s store.SubtaskStatus) bool {
		return s.Unit == "sync" && s.Worker != "s"
	})
	if st.Worker != "r" {
		t.Errorf("agent s killed: the source went to %s, want r (the live agent holding its relay)", st.Worker)
	}
	t.Logf("agent s killed: the source syncs on %s %s later", st.Worker, took)
	time.Sleep(500 * time.Millisecond)

	n := w.halt(t)
	took = d.waitEqual(90 * time.Second)
	d.auditSame(t, d.src, d.tgt)
	t.Logf("%d writes; target equal %s after the writer stopped", n, took)
}

// bigTransactions updates every row of a 1,000-row table of 500-byte rows
// on the source, outside the task's tables, again and again until the
// returned stop is called: transactions of about 1 MB in the binlog.
func bigTransactions(t *testing.T, d *dataset) (stop func()) {
	t.Helper()
	db := "`" + d.db + "_big`"
	d.exec(d.src, "DROP DATABASE IF EXISTS "+db, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".b (id INT PRIMARY KEY, pad VARCHAR(500) NOT NULL)",
		"INSERT INTO "+db+".b SELECT seq, REPEAT('a', 500) FROM "+db+".seq_1_to_1000")
	if _, err := d.src.Exec("UPDATE " + db + ".b SET pad = REPEAT('b', 500)"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			d.src.ExecContext(ctx, "UPDATE "+db+".b SET pad = REPEAT(CHAR(65 + ? % 26), 500)", i)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { d.src.Exec("DROP DATABASE IF EXISTS " + db) })
	return func() { cancel(); <-done }
}

// tornKill freezes p (SIGSTOP) at random moments until the newest file of
// the relay in dir ends inside an event or for d, then kills it
// (SIGKILL). It returns what a repair must cut, the looks, and whether the
// file ended inside an event.
func tornKill(t *testing.T, p *proc, dir string, d time.Duration) (relay.Repair, int, bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for try := 1; ; try++ {
		time.Sleep(time.Duration(1+try%13) * time.Millisecond)
		if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		r, ok := tornTail(t, dir)
		if ok || time.Now().After(deadline) {
			p.kill()
			return r, try, ok
		}
		if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}
}

// tornTail reports whether the newest relay file in dir ends inside an
// event: a copy of it repaired is shorter.
func tornTail(t *testing.T, dir string) (relay.Repair, bool) {
	files, err := relay.ReadIndex(dir)
	if err != nil || len(files) == 0 {
		return relay.Repair{}, false
	}
	name := files[len(files)-1]
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return relay.Repair{}, false
	}
	cp := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(cp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	size, err := relay.RepairFile(cp, 4)
	if err != nil || size == int64(len(data)) {
		return relay.Repair{Size: size}, false
	}
	return relay.Repair{File: name, Cut: int64(len(data)) - size, Size: size}, true
}

// cutLastEvent cuts the newest relay file in dir in the middle of its last
// event and returns what the repair must cut.
func cutLastEvent(t *testing.T, dir string) relay.Repair {
	t.Helper()
	files, err := relay.ReadIndex(dir)
	if err != nil || len(files) == 0 {
		t.Fatalf("relay %s: no file (%v)", dir, err)
	}
	name := files[len(files)-1]
	path := filepath.Join(dir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Walk the events to the start of the last one.
	last := int64(4)
	for off := int64(4); off+19 <= int64(len(data)); {
		size := int64(binary.LittleEndian.Uint32(data[off+9:]))
		if size < 19 || off+size > int64(len(data)) {
			break
		}
		last, off = off, off+size
	}
	end := last + (int64(len(data))-last)/2
	if err := os.Truncate(path, end); err != nil {
		t.Fatal(err)
	}
	return relay.Repair{File: name, Cut: end - last, Size: last}
}

// relayPrefixOfSource checks that every relay file in dir is the source's
// file of that name in data, or a prefix of it (the newest, still
// growing), byte for byte: after a repair the relay went on from the
// last whole event.
func relayPrefixOfSource(t *testing.T, dir, data string) {
	t.Helper()
	files, err := relay.ReadIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		got, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(data, f))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(want) > 21 {
			want[21] &^= 1 // LOG_EVENT_BINLOG_IN_USE_F: a stream never sends it
		}
		if len(got) > 21 {
			got[21] &^= 1
		}
		if len(got) > len(want) || !bytes.Equal(got, want[:len(got)]) || (i < len(files)-1 && len(got) != len(want)) {
			t.Fatalf("relay file %s (%d bytes) is not the source's (%d bytes) or a prefix of it", f, len(got), len(want))
		}
	}
}

// waitRaw waits for a line of p's log written after since that contains
// what, and returns it.
func waitRaw(t *testing.T, p *proc, since time.Time, d time.Duration, desc, what string) string {
	t.Helper()
	var found string
	waitFor(t, d, desc, func() (bool, error) {
		f, err := os.Open(p.log)
		if err != nil {
			return false, err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			l := sc.Text()
			if strings.Contains(l, what) && logTime(l).After(since) {
				found = l
				return true, nil
			}
		}
		return false, sc.Err()
	})
	return found
}

// logTime is the time of a JSON log line.
func logTime(line string) time.Time {
	_, rest, ok := strings.Cut(line, `"time":"`)
	if !ok {
		return time.Time{}
	}
	ts, _, _ := strings.Cut(rest, `"`)
	at, _ := time.Parse(time.RFC3339Nano, ts)
	return at
}
