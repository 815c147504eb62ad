package units

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/mariadbtest"
)

// dlRouteRes routes the res tables into schema db.
func dlRouteRes(db string) []Route {
	return []Route{{From: "res.t", To: db + ".t"}, {From: "res.c", To: db + ".c"}, {From: "res.nk", To: db + ".nk"}}
}

// dlRestartDuringLoad runs DumpLoad and restarts server s (by a crash)
// once the fifth chunk is loaded; DumpLoad must ride it out.
func dlRestartDuringLoad(t *testing.T, p *dlPair, s *mariadbtest.Server, task, db string) {
	t.Helper()
	cfg := p.config(task, []string{"res.*"}, dlRouteRes(db)...)
	opts := dlResumeOpts
	var once sync.Once
	restarted := make(chan error, 1)
	opts.afterChunk = func(seq uint32, j *tableJob) {
		if seq >= 5 {
			once.Do(func() { go func() { restarted <- s.Restart(context.Background(), true) }() })
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := DumpLoadWith(ctx, cfg, opts, nil, dlLog(t)); err != nil {
		t.Fatalf("DumpLoad across a restart: %v", err)
	}
	select {
	case err := <-restarted:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the server did not restart")
	}
	for _, tb := range []string{"t", "c", "nk"} {
		if a, b := dlDigest(t, p.srcDB, "res."+tb), dlDigest(t, p.dstDB, db+"."+tb); a != b {
			t.Errorf("res.%s: source %s, target %s", tb, a, b)
		}
	}
	var snaps int
	p.dstDB.QueryRow("SELECT COUNT(DISTINCT snapshot_id) FROM dmplan_meta.load_chunk WHERE task = ?", task).Scan(&snaps)
	t.Logf("%s: rows came from %d snapshots", task, snaps)
}

func TestDumpLoadServerRestarts(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newDLPair(t)
	dlResumeSetup(t, p)
	t.Run("target", func(t *testing.T) { dlRestartDuringLoad(t, p, p.dst, "tgt-restart", "r1") })
	t.Run("source", func(t *testing.T) { dlRestartDuringLoad(t, p, p.src, "src-restart", "r2") })
}

// TestDumpLoadSnapshotUnderWrites checks that an uninterrupted dump under
// concurrent writes, read by several connections, equals the source as of
// the position it returns.
func TestDumpLoadSnapshotUnderWrites(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newDLPair(t)
	dlResumeSetup(t, p)
	w := startDLWriter(t, p.srcDB)
	defer w.stop()
	time.Sleep(200 * time.Millisecond)
	cfg := p.config("writes", []string{"res.*"})
	cfg.Mode = ModeAll // the position sync starts from; full mode leaves its GTID out
	opts := dlResumeOpts
	opts.Readers = 3
	pos := dlRun(t, cfg, opts)
	w.stop()
	if n := dlCheckChunks(t, p, "writes", w); n != 1 {
		t.Errorf("an uninterrupted load used %d snapshots", n)
	}
	var g string
	if err := p.srcDB.QueryRow("SELECT BINLOG_GTID_POS(?, ?)", pos.File, pos.Pos).Scan(&g); err != nil || g != pos.GTID {
		t.Errorf("position %+v: BINLOG_GTID_POS gives %q (%v)", pos, g, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var before, after int
	for _, s := range w.seqOf {
		if s <= gtidSeq(t, pos.GTID) {
			before++
		} else {
			after++
		}
	}
	if before == 0 || after == 0 {
		t.Errorf("the writer committed %d inserts before the snapshot and %d after: the test did not write during the dump", before, after)
	}
}
