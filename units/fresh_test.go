package units

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFreshAndNewTables: configuration changes between runs of a subtask
// (one source and one target shared by the subtests, a task each).
func TestFreshAndNewTables(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	log := syLog(t)
	t.Run("ModeChange", func(t *testing.T) { testFreshModeChange(t, p, log) })
	t.Run("RoutesRefuse", func(t *testing.T) { testFreshRoutesRefuse(t, p, log) })
	t.Run("StartIncremental", func(t *testing.T) { testFreshStart(t, p, log) })
	t.Run("NewTables", func(t *testing.T) { testNewTables(t, p, log) })
}

func freshCount(t *testing.T, p *syPair, query string, args ...any) int {
	t.Helper()
	var n int
	if err := p.dstDB.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// freshRunUntilCaughtUp runs cfg until sync has caught up with the source,
// then stops it.
func freshRunUntilCaughtUp(t *testing.T, p *syPair, cfg Config, log *slog.Logger) {
	t.Helper()
	r := syStart(t, cfg, log)
	syWaitCaughtUp(t, p, r, 30*time.Second)
	if err := r.stop(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
}

// all -> incremental -> all: incremental keeps the rows and syncs from the
// source's current position; back to all, the table the subtask created
// is dropped and loaded again (a row deleted on the target by hand comes
// back, and the snapshots start again at 1).
func testFreshModeChange(t *testing.T, p *syPair, log *slog.Logger) {
	syExec(t, p.srcDB, "CREATE DATABASE m", "CREATE TABLE m.t (id INT PRIMARY KEY, v INT NOT NULL)",
		"INSERT INTO m.t SELECT seq, seq FROM m.seq_1_to_2000")
	cfg := p.config("mc", ModeAll, []string{"m.*"})
	freshRunUntilCaughtUp(t, p, cfg, log)
	syWaitSame(t, p, 10*time.Second, "m.t=m.t")

	cfg.Mode = ModeIncremental
	r := syStart(t, cfg, log)
	syWaitCaughtUp(t, p, r, 30*time.Second) // the new start is pinned (a bare sleep lost the race under load)
	syExec(t, p.srcDB, "INSERT INTO m.t SELECT seq, seq FROM m.seq_2001_to_2100", "UPDATE m.t SET v = v + 1 WHERE id <= 10")
	syWaitCaughtUp(t, p, r, 30*time.Second)
	syWaitSame(t, p, 10*time.Second, "m.t=m.t")
	if err := r.stop(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("incremental run returned %v", err)
	}
	if n := freshCount(t, p, "SELECT COUNT(*) FROM dmplan_meta.load_table WHERE task = 'mc' AND created_target = 1"); n != 1 {
		t.Fatalf("load_table rows created_target=1 after the switch to incremental: %d, want 1 (kept)", n)
	}

	syExec(t, p.dstDB, "DELETE FROM m.t WHERE id <= 100") // the reload must bring them back
	syExec(t, p.srcDB, "UPDATE m.t SET v = v + 1 WHERE id > 2050")
	cfg.Mode = ModeAll
	freshRunUntilCaughtUp(t, p, cfg, log)
	syWaitSame(t, p, 10*time.Second, "m.t=m.t")
	if n := freshCount(t, p, "SELECT COUNT(*) FROM dmplan_meta.dump_snapshot WHERE task = 'mc'"); n != 1 {
		t.Errorf("snapshots after the fresh start: %d, want 1", n)
	}
}

// A routes change in mode all stops with a permanent error when a target
// table holds rows the subtask did not create; emptied, the task starts
// over.
func testFreshRoutesRefuse(t *testing.T, p *syPair, log *slog.Logger) {
	syExec(t, p.srcDB, "CREATE DATABASE rr", "CREATE TABLE rr.t (id INT PRIMARY KEY, v INT NOT NULL)",
		"INSERT INTO rr.t SELECT seq, seq FROM rr.seq_1_to_500")
	syCopySchema(t, p, "rr", "t") // created by hand: not the subtask's own
	cfg := p.config("rt", ModeAll, []string{"rr.*"})
	freshRunUntilCaughtUp(t, p, cfg, log)

	cfg.Routes = []Route{{From: "rr.t", To: "rr.t"}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := Run(ctx, cfg, nil, log)
	if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "target table `rr`.`t` holds rows this subtask did not create") ||
		!strings.Contains(err.Error(), "TRUNCATE") {
		t.Fatalf("Run after a routes change = %v, want a permanent error naming `rr`.`t`", err)
	}
	if n := freshCount(t, p, "SELECT COUNT(*) FROM rr.t"); n != 500 {
		t.Fatalf("target rows after the refusal: %d, want 500 (untouched)", n)
	}
	syExec(t, p.dstDB, "TRUNCATE rr.t")
	syExec(t, p.srcDB, "INSERT INTO rr.t VALUES (501, 501)")
	freshRunUntilCaughtUp(t, p, cfg, log)
	syWaitSame(t, p, 10*time.Second, "rr.t=rr.t")
}

// A new start position in mode incremental resets the sync checkpoint:
// the changes between the old checkpoint and the new start are not
// applied.
func testFreshStart(t *testing.T, p *syPair, log *slog.Logger) {
	ctx := context.Background()
	syExec(t, p.srcDB, "CREATE DATABASE si", "CREATE TABLE si.t (id INT PRIMARY KEY)")
	syCopySchema(t, p, "si", "t")
	pos1, err := currentPosition(ctx, p.srcDB, "mariadb")
	if err != nil {
		t.Fatal(err)
	}
	syExec(t, p.srcDB, "INSERT INTO si.t VALUES (1)")
	cfg := p.config("st", ModeIncremental, []string{"si.*"})
	cfg.Start = pos1
	freshRunUntilCaughtUp(t, p, cfg, log)
	syExec(t, p.srcDB, "INSERT INTO si.t VALUES (2)")
	if cfg.Start, err = currentPosition(ctx, p.srcDB, "mariadb"); err != nil {
		t.Fatal(err)
	}
	syExec(t, p.srcDB, "INSERT INTO si.t VALUES (3)")
	freshRunUntilCaughtUp(t, p, cfg, log)
	if got := strings.Join(syRows(t, p.dstDB, "si.t"), ","); got != `"1","3"` {
		t.Fatalf("target rows = %s, want 1,3 (2 was written before the new start)", got)
	}
}

// A filter change in mode all while the source is written: the newly
// selected table is copied from a new snapshot and replicated; the table
// already loaded is not read again.
func testNewTables(t *testing.T, p *syPair, log *slog.Logger) {
	syExec(t, p.srcDB, "CREATE DATABASE nt",
		"CREATE TABLE nt.a (id INT PRIMARY KEY, v INT NOT NULL)", "CREATE TABLE nt.b (id INT PRIMARY KEY, v INT NOT NULL)",
		"INSERT INTO nt.a SELECT seq, seq FROM nt.seq_1_to_5000", "INSERT INTO nt.b SELECT seq, seq FROM nt.seq_1_to_5000")
	cfg := p.config("nt", ModeAll, []string{"nt.a"})
	freshRunUntilCaughtUp(t, p, cfg, log)
	if n := freshCount(t, p, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'nt' AND TABLE_NAME = 'b'"); n != 0 {
		t.Fatalf("nt.b exists on the target before the filter selects it")
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writes atomic.Int64
	wg.Add(1)
	go func() { // writes to both tables throughout
		defer wg.Done()
		rng := rand.New(rand.NewPCG(7, 8))
		for i := 0; ; i++ {
			writes.Store(int64(i))
			select {
			case <-stop:
				return
			default:
			}
			tbl := []string{"nt.a", "nt.b"}[i%2]
			id := 1 + rng.IntN(6000)
			var q string
			switch rng.IntN(3) {
			case 0:
				q = fmt.Sprintf("REPLACE INTO %s VALUES (%d, %d)", tbl, id, i)
			case 1:
				q = fmt.Sprintf("UPDATE %s SET v = v + 1 WHERE id = %d", tbl, id)
			default:
				q = fmt.Sprintf("DELETE FROM %s WHERE id = %d", tbl, id)
			}
			if _, err := p.srcDB.Exec(q); err != nil {
				t.Errorf("writer: %v", err)
				return
			}
		}
	}()
	waitWrites := func(n int64) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); writes.Load() < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the writer made %d writes in 30 s, want %d", writes.Load(), n)
			}
		}
	}
	waitWrites(100) // a.'s changes queue up behind the checkpoint
	cfg.Tables = []string{"nt.a", "nt.b"}
	r := syStart(t, cfg, log)
	// The writes go on while nt.b is copied (the run reports its load) and
	// sync starts.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if pr := r.last.Load(); pr != nil && pr.Unit == "sync" && !pr.Position.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sync did not start within 60 s (last progress %+v)", r.last.Load())
		}
	}
	waitWrites(writes.Load() + 100)
	close(stop)
	wg.Wait()
	syWaitCaughtUp(t, p, r, 30*time.Second)
	syWaitSame(t, p, 10*time.Second, "nt.a=nt.a", "nt.b=nt.b")
	if err := r.stop(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	if n := freshCount(t, p, "SELECT COUNT(*) FROM dmplan_meta.dump_snapshot WHERE task = 'nt'"); n != 2 {
		t.Errorf("snapshots: %d, want 2 (the first load and the new table's)", n)
	}
	if n := freshCount(t, p, "SELECT COUNT(*) FROM dmplan_meta.load_chunk WHERE task = 'nt' AND src_table = 'a' AND snapshot_id <> 1"); n != 0 {
		t.Errorf("nt.a has %d chunks from a later snapshot: it was loaded again", n)
	}
	if n := freshCount(t, p, "SELECT COUNT(*) FROM dmplan_meta.load_chunk WHERE task = 'nt' AND src_table = 'b' AND (snapshot_id <> 2 OR done = 0)"); n != 0 {
		t.Errorf("nt.b has %d chunks not loaded from the second snapshot", n)
	}
}

// TestFreshKey: the fresh key changes exactly with the changes the planner
// calls EffectFresh (planner/doc.go).
func TestFreshKey(t *testing.T) {
	base := Config{Task: "shop", Source: "s1", Mode: ModeAll, Tables: []string{"shop.*"},
		Routes: []Route{{From: "shop.*", To: "dw.*"}}, Start: Position{File: "mysql-bin.000001", Pos: 4}}
	inc := base
	inc.Mode = ModeIncremental
	cases := []struct {
		name  string
		a     Config
		edit  func(*Config)
		fresh bool
	}{
		{"mode", base, func(c *Config) { c.Mode = ModeFull }, true},
		{"routes in all", base, func(c *Config) { c.Routes = nil }, true},
		{"start in all", base, func(c *Config) { c.Start.Pos = 99 }, false},
		{"tables", base, func(c *Config) { c.Tables = []string{"shop.orders"} }, false},
		{"tuning", base, func(c *Config) { c.SyncWorkers, c.SyncBatch, c.DumpThreads = 2, 10, 1 }, false},
		{"routes removed", base, func(c *Config) { c.Routes = []Route{} }, true},
		{"start in incremental", inc, func(c *Config) { c.Start.Pos = 99 }, true},
		{"gtid start in incremental", inc, func(c *Config) { c.Start.GTID = "0-1-5" }, true},
		{"routes in incremental", inc, func(c *Config) { c.Routes = nil }, false},
	}
	for _, c := range cases {
		b := c.a
		b.Routes = append([]Route(nil), c.a.Routes...)
		c.edit(&b)
		if got := freshKey(c.a) != freshKey(b); got != c.fresh {
			t.Errorf("%s: key changed = %v, want %v", c.name, got, c.fresh)
		}
	}
	var none, empty Config
	empty.Routes = []Route{}
	if freshKey(none) != freshKey(empty) {
		t.Error("nil and empty routes give different keys")
	}
}
