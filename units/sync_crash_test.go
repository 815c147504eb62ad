package units

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// Exactly-once is checked with audit triggers: every change of c.acct,
// c.nokey and c.uk on the source appends (op, values) to c.log_src (not
// replicated), and on the target every change the sync unit applies
// appends to c.log_dst, in the same target transaction. Per row key, the
// two logs must be equal: a change applied twice, lost, or reordered
// shows.

var syAuditTables = []string{
	"CREATE TABLE c.acct (id INT PRIMARY KEY, bal BIGINT NOT NULL, ver INT NOT NULL, note VARCHAR(64))",
	"CREATE TABLE c.nokey (k INT, v INT)",
	"CREATE TABLE c.uk (id INT PRIMARY KEY, code INT NOT NULL, n INT NOT NULL, UNIQUE KEY (code))",
}

func syAuditLog(name string) []string {
	log := "CREATE TABLE c." + name + " (seq BIGINT AUTO_INCREMENT PRIMARY KEY, tbl VARCHAR(8), op CHAR(1), k INT, v1 BIGINT, v2 BIGINT)"
	trig := func(tbl, op, when, row, k, v1, v2 string) string {
		return fmt.Sprintf("CREATE TRIGGER c.%s_%s_%s AFTER %s ON c.%s FOR EACH ROW INSERT INTO c.%s (tbl, op, k, v1, v2) VALUES ('%s', '%s', %s.%s, %s.%s, %s.%s)",
			name, tbl, op, when, tbl, name, tbl, op, row, k, row, v1, row, v2)
	}
	return []string{log,
		trig("acct", "I", "INSERT", "NEW", "id", "bal", "ver"),
		trig("acct", "U", "UPDATE", "NEW", "id", "bal", "ver"),
		trig("acct", "D", "DELETE", "OLD", "id", "bal", "ver"),
		trig("nokey", "I", "INSERT", "NEW", "k", "v", "v"),
		trig("nokey", "U", "UPDATE", "NEW", "k", "v", "v"),
		trig("nokey", "D", "DELETE", "OLD", "k", "v", "v"),
		trig("uk", "I", "INSERT", "NEW", "id", "code", "n"),
		trig("uk", "U", "UPDATE", "NEW", "id", "code", "n"),
		trig("uk", "D", "DELETE", "OLD", "id", "code", "n"),
	}
}

// syAuditSetup creates the audited tables on both sides and returns the
// position sync must start from: just before their first rows.
func syAuditSetup(t testing.TB, p *syPair) Position {
	syExec(t, p.srcDB, "CREATE DATABASE c")
	syExec(t, p.srcDB, syAuditTables...)
	syCopySchema(t, p, "c", "acct", "nokey", "uk")
	syExec(t, p.srcDB, syAuditLog("log_src")...)
	syExec(t, p.dstDB, syAuditLog("log_dst")...)
	start := syMasterPos(t, p)
	syExec(t, p.srcDB, "INSERT INTO c.acct VALUES (1, 0, 0, 'a'), (2, 0, 0, 'b'), (3, 0, 0, 'c')",
		"INSERT INTO c.uk VALUES (1, 1, 0), (2, 2, 0), (3, 3, 0)")
	return start
}

// syMasterPos is the source's current binlog position.
func syMasterPos(t testing.TB, p *syPair) Position {
	t.Helper()
	var pos Position
	var a, b any
	if err := p.srcDB.QueryRow("SHOW MASTER STATUS").Scan(&pos.File, &pos.Pos, &a, &b); err != nil {
		t.Fatal(err)
	}
	return pos
}

// syWriter changes the audited tables at random until stopped.
type syWriter struct {
	cancel context.CancelFunc
	done   chan struct{}
	ops    atomic.Int64 // statements committed
	txs    atomic.Int64 // transactions committed
}

func syStartWriter(t testing.TB, db *sql.DB, seed uint64) *syWriter {
	return syStartWriterRate(t, db, seed, 0)
}

// syStartWriterRate is syStartWriter at about perSecond transactions a
// second (0: as fast as it can).
func syStartWriterRate(t testing.TB, db *sql.DB, seed uint64, perSecond int) *syWriter {
	ctx, cancel := context.WithCancel(context.Background())
	w := &syWriter{cancel: cancel, done: make(chan struct{})}
	rng := rand.New(rand.NewPCG(seed, 7))
	go func() {
		defer close(w.done)
		var tick <-chan time.Time
		if perSecond > 0 {
			tk := time.NewTicker(time.Second / time.Duration(perSecond))
			defer tk.Stop()
			tick = tk.C
		}
		next := 100
		for ctx.Err() == nil {
			if tick != nil {
				select {
				case <-tick:
				case <-ctx.Done():
					return
				}
			}
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				time.Sleep(20 * time.Millisecond) // the source is restarting
				continue
			}
			n := 1 + rng.IntN(4)
			for i := 0; i < n; i++ {
				id := 1 + rng.IntN(next)
				var q string
				switch r := rng.IntN(100); {
				case r < 45:
					q = fmt.Sprintf("UPDATE c.acct SET bal = bal + %d, ver = ver + 1 WHERE id = %d", 1+rng.IntN(9), id%12)
				case r < 55:
					next++
					q = fmt.Sprintf("INSERT INTO c.acct VALUES (%d, 0, 0, 'n')", next)
				case r < 60:
					q = fmt.Sprintf("DELETE FROM c.acct WHERE id = %d", id)
				case r < 63:
					next++
					q = fmt.Sprintf("UPDATE c.acct SET id = %d, ver = ver + 1 WHERE id = %d", next, id)
				case r < 75:
					q = fmt.Sprintf("INSERT INTO c.nokey VALUES (%d, %d)", rng.IntN(5), rng.IntN(3))
				case r < 80:
					q = fmt.Sprintf("UPDATE c.nokey SET v = v + 1 WHERE k = %d LIMIT 1", rng.IntN(5))
				case r < 83:
					q = fmt.Sprintf("DELETE FROM c.nokey WHERE k = %d LIMIT 1", rng.IntN(5))
				case r < 93:
					// rotate the unique codes 1..3 between the rows: each row
					// takes a code another row just gave up (causality)
					q = "UPDATE c.uk SET code = 0, n = n + 1 WHERE code = 1; UPDATE c.uk SET code = 1 WHERE code = 2; " +
						"UPDATE c.uk SET code = 2 WHERE code = 3; UPDATE c.uk SET code = 3 WHERE code = 0"
				default:
					q = fmt.Sprintf("UPDATE c.uk SET n = n + 1 WHERE code = %d", 1+rng.IntN(3))
				}
				if _, err := tx.ExecContext(ctx, q); err != nil {
					break
				}
			}
			if tx.Commit() == nil {
				w.ops.Add(int64(n))
				w.txs.Add(1)
			}
		}
	}()
	t.Cleanup(w.stop)
	return w
}

func (w *syWriter) stop() { w.cancel(); <-w.done }

// syAuditSame compares the two logs per table and key.
func syAuditSame(t testing.TB, p *syPair) {
	t.Helper()
	read := func(db *sql.DB, log string) map[string][]string {
		rows, err := db.Query("SELECT tbl, op, COALESCE(k, -1), COALESCE(v1, -1), COALESCE(v2, -1) FROM c." + log + " ORDER BY seq")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string][]string{}
		for rows.Next() {
			var tbl, op string
			var k, v1, v2 int64
			if err := rows.Scan(&tbl, &op, &k, &v1, &v2); err != nil {
				t.Fatal(err)
			}
			key := fmt.Sprintf("%s/%d", tbl, k)
			if tbl == "nokey" {
				key = tbl // one worker per keyless table: one order for the whole table
			}
			out[key] = append(out[key], fmt.Sprintf("%s(%d,%d)", op, v1, v2))
		}
		return out
	}
	src, dst := read(p.srcDB, "log_src"), read(p.dstDB, "log_dst")
	total := 0
	for k, want := range src {
		total += len(want)
		if got := dst[k]; !slices.Equal(want, got) {
			t.Errorf("changes of %s: source %v, target applied %v", k, want, got)
		}
	}
	for k, got := range dst {
		if _, ok := src[k]; !ok {
			t.Errorf("changes of %s applied on the target but not on the source: %v", k, got)
		}
	}
	t.Logf("audit: %d changes on %d keys, each applied exactly once", total, len(src))
}

// TestSyncCrashConsistency cancels Run at random points, and kills a
// child process running it with SIGKILL at random points, while a writer
// changes the source; at the end every change is applied exactly once.
func TestSyncCrashConsistency(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	cfg := p.config("crash", ModeIncremental, []string{"c.*", "!c.log_*"})
	cfg.Start = syAuditSetup(t, p)
	cfg.SyncBatch = 16
	log := syLog(t)
	w := syStartWriter(t, p.srcDB, 1)
	rng := rand.New(rand.NewPCG(2, 3))

	// In process: cancel at random points, with a changing number of workers.
	for i := 0; i < 12; i++ {
		cfg.SyncWorkers = 2 + i%3
		r := syStart(t, cfg, log)
		time.Sleep(time.Duration(30+rng.IntN(600)) * time.Millisecond)
		if err := r.stop(t); !errors.Is(err, context.Canceled) {
			t.Fatalf("run %d: Run returned %v, want context.Canceled", i, err)
		}
	}
	// In a child process killed with SIGKILL.
	for i := 0; i < 8; i++ {
		cfg.SyncWorkers = 3 + i%2
		child := syStartChild(t, cfg)
		time.Sleep(time.Duration(200+rng.IntN(900)) * time.Millisecond)
		child.Process.Kill()
		child.Wait()
	}
	w.stop()
	t.Logf("writer made %d changes", w.ops.Load())
	cfg.SyncWorkers = 4
	r := syStart(t, cfg, log)
	syWaitCaughtUp(t, p, r, 60*time.Second)
	syWaitSame(t, p, 30*time.Second, "c.acct=c.acct", "c.nokey=c.nokey", "c.uk=c.uk")
	r.stop(t)
	syAuditSame(t, p)
}

const syChildEnv = "DMPLAN_SYNC_CHILD_CONFIG"

// syStartChild runs Run(cfg) in a child process (TestSyncChild).
func syStartChild(t testing.TB, cfg Config) *exec.Cmd {
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSyncChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), syChildEnv+"="+string(b))
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// TestSyncChild is the child process of the crash tests: it runs the
// subtask in its environment until killed.
func TestSyncChild(t *testing.T) {
	env := os.Getenv(syChildEnv)
	if env == "" {
		t.Skip("only runs as the child of a crash test")
	}
	var cfg Config
	if err := json.Unmarshal([]byte(env), &cfg); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	err := Run(context.Background(), cfg, nil, log.With("child", os.Getpid()))
	t.Fatalf("Run returned: %v", err)
}
