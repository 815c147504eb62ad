package units

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The grants docs/security.md documents, per mode, as the test gives them:
// source privileges on the selected schema and globally, target privileges
// on the schema written into (besides ALL on dmplan_meta).
var leastGrants = map[Mode]struct{ srcSchema, srcGlobal, target string }{
	ModeFull:        {"SELECT, LOCK TABLES, SHOW VIEW", "RELOAD", "SELECT, INSERT, DELETE, CREATE, DROP"},
	ModeIncremental: {"SELECT", "REPLICATION SLAVE, BINLOG MONITOR", "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX"},
	ModeAll: {"SELECT, LOCK TABLES, SHOW VIEW", "RELOAD, REPLICATION SLAVE, BINLOG MONITOR",
		"SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX"},
}

// TestLeastPrivilege runs each mode with users that hold exactly the
// documented grants, under writes and a DDL; then takes one grant away and
// checks the precheck names it.
func TestLeastPrivilege(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	syExec(t, p.srcDB, "CREATE DATABASE lp",
		"CREATE TABLE lp.t (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(20))",
		"INSERT INTO lp.t SELECT seq, seq, 'x' FROM lp.seq_1_to_3000")
	for _, mode := range []Mode{ModeFull, ModeIncremental, ModeAll} {
		t.Run(string(mode), func(t *testing.T) {
			g := leastGrants[mode]
			su, tu, dst := "lps_"+string(mode), "lpt_"+string(mode), "lp_"+string(mode)
			syExec(t, p.srcDB, fmt.Sprintf("CREATE USER %s@'127.0.0.1' IDENTIFIED BY 'pw-s'", su),
				fmt.Sprintf("GRANT %s ON lp.* TO %s@'127.0.0.1'", g.srcSchema, su),
				fmt.Sprintf("GRANT %s ON *.* TO %s@'127.0.0.1'", g.srcGlobal, su))
			syExec(t, p.dstDB, fmt.Sprintf("CREATE USER %s@'127.0.0.1' IDENTIFIED BY 'pw-t'", tu),
				fmt.Sprintf("GRANT ALL PRIVILEGES ON dmplan_meta.* TO %s@'127.0.0.1'", tu),
				fmt.Sprintf("GRANT %s ON `%s`.* TO %s@'127.0.0.1'", g.target, dst, tu))
			if mode == ModeIncremental { // sync only: the table is there already
				syExec(t, p.dstDB, "CREATE DATABASE "+dst, "CREATE TABLE "+dst+".t (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(20))",
					"INSERT INTO "+dst+".t SELECT seq, seq, 'x' FROM "+dst+".seq_1_to_3000")
			}
			cfg := Config{Task: "lp-" + string(mode), Source: "src", Mode: mode,
				From:   Endpoint{Host: "127.0.0.1", Port: p.src.Port, User: su, Password: "pw-s"},
				To:     Endpoint{Host: "127.0.0.1", Port: p.dst.Port, User: tu, Password: "pw-t"},
				Tables: []string{"lp.*"}, Routes: []Route{{From: "lp.t", To: dst + ".t"}},
				DumpThreads: 2, SyncWorkers: 4, SyncBatch: 50}
			if err := precheck(context.Background(), cfg); err != nil {
				t.Fatalf("precheck with the documented grants: %v", err)
			}
			if mode == ModeFull {
				if err := Run(context.Background(), cfg, ReporterFunc(func(Progress) {}), syLog(t)); err != nil {
					t.Fatalf("mode full: %v", err)
				}
			} else {
				r := syStart(t, cfg, syLog(t))
				waitSyncing(t, r)
				base := map[Mode]int{ModeIncremental: 3000, ModeAll: 4000}[mode]
				syExec(t, p.srcDB, "UPDATE lp.t SET v = v + 1 WHERE id % 7 = 0", fmt.Sprintf("DELETE FROM lp.t WHERE id %% 11 = %d", base/1000),
					fmt.Sprintf("ALTER TABLE lp.t ADD COLUMN w_%s INT NULL, ADD INDEX v_%s (v)", mode, mode),
					fmt.Sprintf("INSERT INTO lp.t (id, v, s) SELECT seq, seq, 'y' FROM lp.seq_%d_to_%d", base+1, base+100))
				syWaitCaughtUp(t, p, r, 60*time.Second)
				r.stop(t)
			}
			syWaitSame(t, p, 30*time.Second, dst+".t=lp.t")

			// One grant fewer on the target: the precheck names it.
			revoke := "DROP"
			if mode != ModeFull {
				revoke = "ALTER"
			}
			syExec(t, p.dstDB, fmt.Sprintf("REVOKE %s ON `%s`.* FROM %s@'127.0.0.1'", revoke, dst, tu))
			err := precheck(context.Background(), cfg)
			var pe *precheckError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), "lacks "+revoke+" on `"+dst+"`") {
				t.Errorf("precheck without %s on the target: %v", revoke, err)
			}
			if err != nil && (strings.Contains(err.Error(), "pw-t") || strings.Contains(err.Error(), "pw-s")) {
				t.Errorf("a password leaked into the precheck error: %v", err)
			}
		})
	}
}

// waitSyncing waits until the run reports a binlog position: sync has
// pinned where it starts, so writes from now on are replicated.
func waitSyncing(t *testing.T, r *syRunning) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if pr := r.last.Load(); pr != nil && pr.Unit == "sync" && !pr.Position.IsZero() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("sync did not start within a minute (last progress %+v)", r.last.Load())
}
