package units

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// dlResumeSetup fills the source with a keyed table that a writer keeps
// inserting into, a composite-key table and a table without a key.
func dlResumeSetup(t *testing.T, p *dlPair) {
	dlExec(t, p.srcDB, "CREATE DATABASE res",
		"CREATE TABLE res.t (id INT PRIMARY KEY, u VARCHAR(20) NOT NULL, pad CHAR(100) NOT NULL, UNIQUE KEY u (u))",
		"INSERT INTO res.t SELECT seq * 2, CONCAT('u', seq * 2), MD5(seq) FROM mysql.seq_1_to_70000",
		"CREATE TABLE res.c (k VARCHAR(10), n INT, v CHAR(40), PRIMARY KEY (k, n))",
		"INSERT INTO res.c SELECT CONCAT('k', seq % 10), seq, MD5(seq) FROM mysql.seq_1_to_10000",
		"CREATE TABLE res.nk (a INT, b CHAR(40))",
		"INSERT INTO res.nk SELECT seq % 100, MD5(seq) FROM mysql.seq_1_to_8000")
}

// dlWriter inserts odd ids into res.t and remembers the GTID sequence
// number each insert committed with.
type dlWriter struct {
	mu     sync.Mutex
	seqOf  map[int]uint64
	cancel context.CancelFunc
	done   chan struct{}
}

func startDLWriter(t *testing.T, db *sql.DB) *dlWriter {
	ctx, cancel := context.WithCancel(context.Background())
	w := &dlWriter{seqOf: map[int]uint64{}, cancel: cancel, done: make(chan struct{})}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(w.done)
		defer conn.Close()
		rnd := rand.New(rand.NewPCG(1, 2))
		for ctx.Err() == nil {
			id := rnd.IntN(75000)*2 + 1 // inside and beyond the pre-filled range
			if _, err := conn.ExecContext(ctx, "INSERT IGNORE INTO res.t VALUES (?, ?, 'w')", id, "u"+strconv.Itoa(id)); err != nil {
				return
			}
			var g string
			if err := conn.QueryRowContext(ctx, "SELECT @@last_gtid").Scan(&g); err != nil {
				return
			}
			w.mu.Lock()
			if _, ok := w.seqOf[id]; !ok {
				w.seqOf[id] = gtidSeq(t, g)
			}
			w.mu.Unlock()
			time.Sleep(500 * time.Microsecond)
		}
	}()
	return w
}

func (w *dlWriter) stop() { w.cancel(); <-w.done }

// gtidSeq is the sequence number of a single-domain MariaDB GTID "0-1-42".
func gtidSeq(t testing.TB, g string) uint64 {
	f := strings.Split(g, "-")
	n, err := strconv.ParseUint(f[len(f)-1], 10, 64)
	if err != nil {
		t.Fatalf("GTID %q: %v", g, err)
	}
	return n
}

// dlCheckChunks checks the load's contract for res.t: every chunk holds
// exactly the source's rows of its key range as of the snapshot it was
// read from, and the chunks cover every row of the target once.
func dlCheckChunks(t *testing.T, p *dlPair, task string, w *dlWriter) (snapshots int) {
	t.Helper()
	gtids := map[uint32]uint64{}
	rows, err := p.dstDB.Query("SELECT snapshot_id, gtid FROM dmplan_meta.dump_snapshot WHERE task = ?", task)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id uint32
		var g string
		rows.Scan(&id, &g)
		gtids[id] = gtidSeq(t, g)
	}
	rows.Close()
	target := map[int]bool{}
	trows, err := p.dstDB.Query("SELECT id FROM res.t")
	if err != nil {
		t.Fatal(err)
	}
	for trows.Next() {
		var id int
		trows.Scan(&id)
		target[id] = true
	}
	trows.Close()
	used := map[uint32]bool{}
	covered := 0
	crows, err := p.dstDB.Query(`SELECT seq, lo_key, hi_key, done, snapshot_id FROM dmplan_meta.load_chunk
		WHERE task = ? AND src_schema = 'res' AND src_table = 't'`, task)
	if err != nil {
		t.Fatal(err)
	}
	defer crows.Close()
	w.mu.Lock()
	defer w.mu.Unlock()
	for crows.Next() {
		var seq, snap uint32
		var lo, hi sql.NullString
		var done bool
		var snapN sql.NullInt64
		if err := crows.Scan(&seq, &lo, &hi, &done, &snapN); err != nil {
			t.Fatal(err)
		}
		if !done {
			t.Errorf("chunk %d of res.t is not done", seq)
			continue
		}
		snap = uint32(snapN.Int64)
		used[snap] = true
		loID, hiID := -1<<62, 1<<62
		if lo.Valid {
			loID = dlKeyInt(t, lo.String)
		}
		if hi.Valid {
			hiID = dlKeyInt(t, hi.String)
		}
		for id := range target {
			if id > loID && id <= hiID {
				covered++
				if id%2 == 1 && w.seqOf[id] > gtids[snap] {
					t.Errorf("chunk %d (snapshot %d, gtid seq %d) holds id %d, committed later (seq %d)", seq, snap, gtids[snap], id, w.seqOf[id])
				}
			}
		}
		for id, s := range w.seqOf {
			if id > loID && id <= hiID && s <= gtids[snap] && !target[id] {
				t.Errorf("chunk %d (snapshot %d) misses id %d committed at seq %d", seq, snap, id, s)
			}
		}
		for id := max(loID+1, 2); id <= min(hiID, 140000); id++ {
			if id%2 == 0 && !target[id] {
				t.Errorf("chunk %d misses pre-filled id %d", seq, id)
				break
			}
		}
	}
	if covered != len(target) {
		t.Errorf("chunks cover %d rows of res.t, the target has %d", covered, len(target))
	}
	return len(used)
}

// dlChunksDone counts the loaded chunks of a task.
func dlChunksDone(t testing.TB, p *dlPair, task string) int {
	var n int
	if err := p.dstDB.QueryRow("SELECT COUNT(*) FROM dmplan_meta.load_chunk WHERE task = ? AND done = 1", task).Scan(&n); err != nil {
		return 0 // dmplan_meta does not exist yet
	}
	return n
}

func dlKeyInt(t testing.TB, s string) int {
	var k []string
	if err := json.Unmarshal([]byte(s), &k); err != nil || len(k) != 1 {
		t.Fatalf("chunk key %q: %v", s, err)
	}
	n, err := strconv.Atoi(k[0])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var dlResumeOpts = DumpLoadOptions{ChunkRows: 1000, Loaders: 2}

func TestDumpLoadResumeAfterCancel(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newDLPair(t)
	dlResumeSetup(t, p)
	w := startDLWriter(t, p.srcDB)
	defer w.stop()
	cfg := p.config("cancel", []string{"res.*"})
	cfg.Mode = ModeAll // the snapshots' GTIDs: full mode leaves them out
	seed := uint64(time.Now().UnixNano())
	rnd := rand.New(rand.NewPCG(seed, 7))
	t.Logf("seed %d", seed)
	cancelled := 0
	for i := 0; i < 12; i++ {
		// Cancel a random few milliseconds after a random number of
		// chunks, so that every run stops in the middle of the load.
		ctx, cancel := context.WithCancel(context.Background())
		opts := dlResumeOpts
		after, chunks := 1+rnd.IntN(6), 0
		delay := time.Duration(rnd.IntN(30)) * time.Millisecond
		opts.afterChunk = func(uint32, *tableJob) {
			if chunks++; chunks == after {
				time.AfterFunc(delay, cancel)
			}
		}
		_, err := DumpLoadWith(ctx, cfg, opts, nil, dlLog(t))
		cancel()
		if err == nil {
			break
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("attempt %d: %v", i, err)
		}
		cancelled++
	}
	if cancelled < 2 {
		t.Errorf("only %d runs were cancelled before the load finished", cancelled)
	}
	dlRun(t, cfg, dlResumeOpts)
	w.stop()
	n := dlCheckChunks(t, p, "cancel", w)
	dlSame(t, p, "res.c", "res.nk")
	t.Logf("res.t loaded from %d snapshots", n)
}

// TestDumpLoadChild is the child process of TestDumpLoadResumeAfterKill:
// it runs DumpLoad with the config in DMPLAN_DL_CHILD until killed.
func TestDumpLoadChild(t *testing.T) {
	env := os.Getenv("DMPLAN_DL_CHILD")
	if env == "" {
		t.Skip("helper process for TestDumpLoadResumeAfterKill")
	}
	var cfg Config
	if err := json.Unmarshal([]byte(env), &cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := DumpLoadWith(context.Background(), cfg, dlResumeOpts, nil, dlLog(t)); err != nil {
		t.Fatal(err)
	}
}

func TestDumpLoadResumeAfterKill(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newDLPair(t)
	dlResumeSetup(t, p)
	w := startDLWriter(t, p.srcDB)
	defer w.stop()
	cfg := p.config("kill", []string{"res.*"})
	cfg.Mode = ModeAll // the snapshots' GTIDs: full mode leaves them out
	env, _ := json.Marshal(cfg)
	seed := uint64(time.Now().UnixNano())
	rnd := rand.New(rand.NewPCG(seed, 9))
	t.Logf("seed %d", seed)
	killed := 0
	for i := 0; i < 12; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDumpLoadChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "DMPLAN_DL_CHILD="+string(env))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		// Kill a random few milliseconds after a random number of chunks
		// more have been loaded.
		goal := dlChunksDone(t, p, "kill") + 1 + rnd.IntN(6)
		delay := time.Duration(rnd.IntN(30)) * time.Millisecond
		var err error
		finished := false
	wait:
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
			select {
			case err = <-exited:
				finished = true
				break wait
			case <-time.After(5 * time.Millisecond):
			}
			if dlChunksDone(t, p, "kill") >= goal {
				time.Sleep(delay)
				break
			}
		}
		if finished {
			if err != nil {
				t.Fatalf("child %d: %v", i, err)
			}
			break
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		killed++
	}
	if killed < 2 {
		t.Errorf("only %d children were killed before the load finished", killed)
	}
	dlRun(t, cfg, dlResumeOpts)
	w.stop()
	n := dlCheckChunks(t, p, "kill", w)
	dlSame(t, p, "res.c", "res.nk")
	t.Logf("res.t loaded from %d snapshots", n)
}
