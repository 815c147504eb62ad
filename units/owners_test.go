package units

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSharedTargets: target tables several subtasks write into (one
// source server, one target; the subtasks are named as different sources,
// each with its own tables and id range, routed into one table).
func TestSharedTargets(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	log := syLog(t)
	t.Run("FreshStartOfOneWriter", func(t *testing.T) { testSharedFresh(t, p, log) })
	t.Run("SelectedAgain", func(t *testing.T) { testSelectedAgain(t, p, log) })
	t.Run("MergedTaskStartsOver", func(t *testing.T) { testMergedStartsOver(t, p, log) })
}

// ownWriter changes rows of tables, with ids in [base, base+span), until
// stopped: inserts, updates and deletes, each its own transaction.
type ownWriter struct {
	stop chan struct{}
	wg   sync.WaitGroup
	ops  atomic.Int64
}

func startOwnWriter(t *testing.T, p *syPair, seed uint64, base, span int, tables ...string) *ownWriter {
	w := &ownWriter{stop: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		rng := rand.New(rand.NewPCG(seed, seed+1))
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			tbl := tables[i%len(tables)]
			id := base + rng.IntN(span)
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
			w.ops.Add(1)
		}
	}()
	t.Cleanup(w.halt)
	return w
}

// halt stops the writer (idempotent).
func (w *ownWriter) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
}

// waitOps waits until the writer has made n more changes.
func (w *ownWriter) waitOps(t *testing.T, n int64) {
	t.Helper()
	want := w.ops.Load() + n
	deadline := time.Now().Add(30 * time.Second)
	for w.ops.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("writer made %d changes, want %d", w.ops.Load(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startCapturing is syStart, also keeping the last list of orphaned
// target tables reported.
func startCapturing(t *testing.T, cfg Config, log *slog.Logger, orphaned *atomic.Pointer[[]string]) *syRunning {
	ctx, cancel := context.WithCancel(context.Background())
	r := &syRunning{cancel: cancel, done: make(chan error, 1)}
	go func() {
		r.done <- Run(ctx, cfg, ReporterFunc(func(p Progress) {
			if p.Orphaned != nil {
				o := slices.Clone(p.Orphaned)
				orphaned.Store(&o)
			}
			r.last.Store(&p)
		}), log)
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// Source A (mode all) and source B (mode incremental) write into one
// target table dw.orders; B replicates under writes throughout.
//   - A's mode changes to full (a fresh start): A wrote rows into the
//     shared table, so it stops with a permanent error naming B, and
//     neither the table nor B's rows are touched;
//   - done as the error says (A's rows deleted by hand, its registration
//     forgotten), A loads beside B's rows: the table equals the union of
//     both sources;
//   - C (mode all) writing sc.orders changes its routes to dw.orders (a
//     fresh start into a shared table it never wrote): its rows are
//     loaded beside the others', sc.orders is kept and reported orphaned.
func testSharedFresh(t *testing.T, p *syPair, log *slog.Logger) {
	syExec(t, p.srcDB,
		"CREATE DATABASE sa", "CREATE TABLE sa.orders (id INT PRIMARY KEY, v INT NOT NULL)",
		"INSERT INTO sa.orders SELECT seq, seq FROM sa.seq_1_to_3000",
		"CREATE DATABASE sb", "CREATE TABLE sb.orders (id INT PRIMARY KEY, v INT NOT NULL)",
		"CREATE DATABASE sc", "CREATE TABLE sc.orders (id INT PRIMARY KEY, v INT NOT NULL)",
		"INSERT INTO sc.orders SELECT 2000000 + seq, seq FROM sc.seq_1_to_1000")
	cfgA := p.config("ma", ModeAll, []string{"sa.*"}, Route{From: "sa.orders", To: "dw.orders"})
	cfgA.Source = "a"
	cfgB := p.config("mb", ModeIncremental, []string{"sb.*"}, Route{From: "sb.orders", To: "dw.orders"})
	cfgB.Source = "b"
	cfgC := p.config("mc", ModeAll, []string{"sc.*"})
	cfgC.Source = "c"

	runA := syStart(t, cfgA, log) // creates dw.orders
	syWaitCaughtUp(t, p, runA, 60*time.Second)
	runB := syStart(t, cfgB, log)
	syWaitCaughtUp(t, p, runB, 60*time.Second) // B's start position is pinned before its writes
	wA := startOwnWriter(t, p, 1, 1, 4000, "sa.orders")
	wB := startOwnWriter(t, p, 2, 1000000, 4000, "sb.orders")
	wB.waitOps(t, 300)
	wA.halt()
	syWaitCaughtUp(t, p, runA, 60*time.Second)
	if err := runA.stop(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("A returned %v", err)
	}

	// A's mode changes: refused, nothing of the shared table touched.
	cfgA.Mode = ModeFull
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := Run(ctx, cfgA, nil, log)
	if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "target table `dw`.`orders` is also written by mb/b (incremental)") ||
		!strings.Contains(err.Error(), "dst_table = 'orders'") {
		t.Fatalf("fresh start of A into the shared table = %v, want a permanent error naming mb/b and saying what to do", err)
	}
	if n := freshCount(t, p, "SELECT COUNT(*) FROM dw.orders WHERE id < 1000000"); n < 2000 {
		t.Fatalf("A's rows after the refusal: %d, want them untouched", n)
	}
	wB.waitOps(t, 300)
	// The writer pauses for the comparison: unthrottled, it can outrun sync
	// under -race on two busy cores, and the tables are never equal at the
	// instant they are read.
	wB.halt()
	syWaitCaughtUp(t, p, runB, 60*time.Second)
	syWaitSame(t, p, 30*time.Second, "dw.orders=sa.orders,sb.orders") // B's rows survive and B replicates on
	wB = startOwnWriter(t, p, 4, 1000000, 4000, "sb.orders")

	// Done as the error says: A loads beside B's rows.
	syExec(t, p.dstDB, "DELETE FROM dw.orders WHERE id < 1000000",
		"DELETE FROM dmplan_meta.subtask_table WHERE task = 'ma' AND source = 'a' AND dst_schema = 'dw' AND dst_table = 'orders'",
		"DELETE FROM dmplan_meta.load_table WHERE task = 'ma' AND source = 'a' AND dst_schema = 'dw' AND dst_table = 'orders'")
	if err := Run(ctx, cfgA, nil, log); err != nil {
		t.Fatalf("fresh start of A after its rows were removed: %v", err)
	}
	if n := freshCount(t, p, "SELECT COUNT(*) FROM dmplan_meta.load_table WHERE task = 'ma' AND dst_table = 'orders' AND created_target = 0"); n != 1 {
		t.Errorf("A's load of dw.orders: %d rows with created_target = 0, want 1 (loaded into the existing table)", n)
	}
	wB.waitOps(t, 300)
	wB.halt()
	syWaitCaughtUp(t, p, runB, 60*time.Second)
	syWaitSame(t, p, 30*time.Second, "dw.orders=sa.orders,sb.orders")
	wB = startOwnWriter(t, p, 5, 1000000, 4000, "sb.orders")

	// C starts over into the shared table it never wrote: loaded beside.
	freshRunUntilCaughtUp(t, p, cfgC, log)
	cfgC.Routes = []Route{{From: "sc.orders", To: "dw.orders"}}
	var orphaned atomic.Pointer[[]string]
	runC := startCapturing(t, cfgC, log, &orphaned)
	wC := startOwnWriter(t, p, 3, 2000000, 2000, "sc.orders")
	wC.waitOps(t, 300)
	wC.halt()
	wB.halt()
	syWaitCaughtUp(t, p, runC, 60*time.Second)
	syWaitCaughtUp(t, p, runB, 60*time.Second)
	syWaitSame(t, p, 30*time.Second, "dw.orders=sa.orders,sb.orders,sc.orders")
	if o := orphaned.Load(); o == nil || !slices.Equal(*o, []string{"sc.orders"}) {
		t.Errorf("C reported orphaned tables %v, want [sc.orders]", o)
	}
	if n := freshCount(t, p, "SELECT COUNT(*) FROM sc.orders"); n != 1000 {
		t.Errorf("the orphaned table sc.orders holds %d rows, want its 1000 rows kept", n)
	}
	// A table created on the source while B replicates is registered
	// before its first row is applied.
	syExec(t, p.dstDB, "CREATE DATABASE sb")
	syExec(t, p.srcDB, "CREATE TABLE sb.extra (id INT PRIMARY KEY)", "INSERT INTO sb.extra VALUES (1)")
	syWaitCaughtUp(t, p, runB, 60*time.Second)
	syWaitSame(t, p, 30*time.Second, "sb.extra=sb.extra")
	if n := freshCount(t, p, "SELECT COUNT(*) FROM dmplan_meta.subtask_table WHERE task = 'mb' AND source = 'b' "+
		"AND src_table = 'extra' AND dst_schema = 'sb' AND dst_table = 'extra' AND mode = 'incremental' AND state = 'current'"); n != 1 {
		t.Errorf("sb.extra, created while B replicates, registered %d times, want 1", n)
	}
	for _, r := range []*syRunning{runB, runC} {
		if err := r.stop(t); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v", err)
		}
	}
}

// A table left out of the filter while it is written, then selected
// again, is copied again from a new snapshot: every change made while it
// was left out is in the target.
func testSelectedAgain(t *testing.T, p *syPair, log *slog.Logger) {
	syExec(t, p.srcDB, "CREATE DATABASE rs",
		"CREATE TABLE rs.a (id INT PRIMARY KEY, v INT NOT NULL)", "CREATE TABLE rs.b (id INT PRIMARY KEY, v INT NOT NULL)",
		"INSERT INTO rs.a SELECT seq, seq FROM rs.seq_1_to_3000", "INSERT INTO rs.b SELECT seq, seq FROM rs.seq_1_to_3000")
	cfg := p.config("rs", ModeAll, []string{"rs.*"})
	freshRunUntilCaughtUp(t, p, cfg, log)
	syWaitSame(t, p, 30*time.Second, "rs.a=rs.a", "rs.b=rs.b")
	w := startOwnWriter(t, p, 4, 1, 3500, "rs.a", "rs.b")

	cfg.Tables = []string{"rs.*", "!rs.b"} // left out while written
	r := syStart(t, cfg, log)
	w.waitOps(t, 400)
	syWaitCaughtUp(t, p, r, 60*time.Second)
	if err := r.stop(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	if n := freshCount(t, p, "SELECT COUNT(*) FROM dmplan_meta.subtask_table WHERE task = 'rs' AND src_table = 'b' AND state = 'deselected'"); n != 1 {
		t.Fatalf("rs.b recorded deselected: %d rows, want 1", n)
	}
	if got, want := syRows(t, p.dstDB, "rs.b"), syRows(t, p.srcDB, "rs.b"); slices.Equal(got, want) {
		t.Fatal("rs.b on the target equals the source although its changes were not replicated: the test proves nothing")
	}

	cfg.Tables = []string{"rs.*"} // selected again, still written
	r = syStart(t, cfg, log)
	w.waitOps(t, 400)
	w.halt()
	syWaitCaughtUp(t, p, r, 60*time.Second)
	syWaitSame(t, p, 30*time.Second, "rs.a=rs.a", "rs.b=rs.b")
	if err := r.stop(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	if n := freshCount(t, p, "SELECT COUNT(*) FROM dmplan_meta.dump_snapshot WHERE task = 'rs'"); n != 2 {
		t.Errorf("snapshots: %d, want 2 (the first load and the copy of rs.b)", n)
	}
	if n := freshCount(t, p, "SELECT COUNT(*) FROM dmplan_meta.load_chunk WHERE task = 'rs' AND src_table = 'b' AND (snapshot_id <> 2 OR done = 0)"); n != 0 {
		t.Errorf("rs.b has %d chunks not loaded from the second snapshot", n)
	}
	if n := freshCount(t, p, "SELECT COUNT(*) FROM dmplan_meta.load_chunk WHERE task = 'rs' AND src_table = 'a' AND snapshot_id <> 1"); n != 0 {
		t.Errorf("rs.a has %d chunks from a later snapshot: it was copied again", n)
	}
	if n := freshCount(t, p, "SELECT COUNT(*) FROM dmplan_meta.subtask_table WHERE task = 'rs' AND state = 'current'"); n != 2 {
		t.Errorf("current registrations of rs: %d, want 2", n)
	}
}

// The two subtasks of one task merge their shards into one table; the
// task's mode changes. Each wrote rows into it, so each is refused, naming
// the other; done as the error says for "every writer starts over"
// (TRUNCATE, registrations forgotten), both start over at once and the
// table equals the union of the shards.
func testMergedStartsOver(t *testing.T, p *syPair, log *slog.Logger) {
	syExec(t, p.srcDB, "CREATE DATABASE m1", "CREATE TABLE m1.t (id INT PRIMARY KEY, v INT NOT NULL)",
		"INSERT INTO m1.t SELECT seq, seq FROM m1.seq_1_to_2000",
		"CREATE DATABASE m2", "CREATE TABLE m2.t (id INT PRIMARY KEY, v INT NOT NULL)",
		"INSERT INTO m2.t SELECT 100000 + seq, seq FROM m2.seq_1_to_2000")
	var cfgs []Config
	for _, s := range []string{"m1", "m2"} {
		cfg := p.config("mt", ModeAll, []string{s + ".*"}, Route{From: "m?.t", To: "mdw.t"})
		cfg.Source = s
		freshRunUntilCaughtUp(t, p, cfg, log)
		cfg.Mode = ModeFull
		cfgs = append(cfgs, cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i, cfg := range cfgs {
		other := cfgs[1-i].Source
		err := Run(ctx, cfg, nil, log)
		if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "is also written by mt/"+other+" (all)") {
			t.Fatalf("fresh start of mt/%s = %v, want a permanent error naming mt/%s", cfg.Source, err, other)
		}
	}
	syExec(t, p.dstDB, "TRUNCATE mdw.t",
		"DELETE FROM dmplan_meta.subtask_table WHERE dst_schema = 'mdw' AND dst_table = 't'",
		"DELETE FROM dmplan_meta.load_table WHERE dst_schema = 'mdw' AND dst_table = 't'")
	errs := make(chan error, len(cfgs))
	for _, cfg := range cfgs {
		go func() { errs <- Run(ctx, cfg, nil, log) }()
	}
	for range cfgs {
		if err := <-errs; err != nil {
			t.Fatalf("fresh start after TRUNCATE: %v", err)
		}
	}
	syWaitSame(t, p, 10*time.Second, "mdw.t=m1.t,m2.t")
}
