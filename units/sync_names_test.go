package units

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

// syChecksumsEqual waits until CHECKSUM TABLE gives the same sum on both
// sides for every "target=source" pair.
func syChecksumsEqual(t testing.TB, p *syPair, timeout time.Duration, pairs ...[2]string) {
	t.Helper()
	sum := func(db *sql.DB, tb string) (int64, error) {
		var name string
		var s sql.NullInt64
		err := db.QueryRow("CHECKSUM TABLE "+tb).Scan(&name, &s)
		if err == nil && !s.Valid {
			err = sql.ErrNoRows // the table does not exist
		}
		return s.Int64, err
	}
	deadline := time.Now().Add(timeout)
	for {
		bad := ""
		for _, pr := range pairs {
			a, err1 := sum(p.dstDB, pr[0])
			b, err2 := sum(p.srcDB, pr[1])
			if err1 != nil || err2 != nil || a != b {
				bad = pr[0]
				break
			}
		}
		if bad == "" {
			return
		}
		if time.Now().After(deadline) {
			var want, got []string
			for _, pr := range pairs {
				if pr[0] == bad {
					want, got = syRows(t, p.srcDB, pr[1]), syRows(t, p.dstDB, pr[0])
				}
			}
			t.Fatalf("checksums differ after %v:\n%s", timeout, syDiff(bad, want, got))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// syRandomWrites runs fn(rng) in a loop from n goroutines until stop is
// called; errors of single statements are ignored (the writers race).
func syRandomWrites(n int, fn func(ctx context.Context, rng *rand.Rand)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 11))
			for ctx.Err() == nil {
				fn(ctx, rng)
			}
		}()
	}
	return func() { cancel(); wg.Wait() }
}

// TestSyncNameCase: with lower_case_table_names=0 (the Linux default),
// tables and databases whose names differ only in case are distinct:
// copied (mode all) and synced under writes, each ends equal to its source.
func TestSyncNameCase(t *testing.T) {
	p := newSyPair(t)
	var tables [][2]string
	for _, db := range []string{"lower_db", "CaseDB", "casedb"} {
		syExec(t, p.srcDB, "CREATE DATABASE "+QuoteIdent(db))
		for _, tb := range []string{"Upper_Table", "upper_table"} {
			q := QuoteTable(db, tb)
			syExec(t, p.srcDB, "CREATE TABLE "+q+" (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(20))",
				"INSERT INTO "+q+" SELECT seq, seq, '"+db+"."+tb+"' FROM "+QuoteIdent(db)+".seq_1_to_3000")
			tables = append(tables, [2]string{q, q})
		}
	}
	stop := syRandomWrites(3, func(ctx context.Context, rng *rand.Rand) {
		q := tables[rng.IntN(len(tables))][1]
		id := 1 + rng.IntN(4000)
		switch rng.IntN(3) {
		case 0:
			p.srcDB.ExecContext(ctx, "REPLACE INTO "+q+" VALUES (?, ?, 'w')", id, rng.IntN(1000))
		case 1:
			p.srcDB.ExecContext(ctx, "UPDATE "+q+" SET v = v + 1 WHERE id = ?", id)
		default:
			p.srcDB.ExecContext(ctx, "DELETE FROM "+q+" WHERE id = ?", id)
		}
	})
	// dmplan_meta as an older dmplan created it, in a case-insensitive
	// collation: converted on the first run.
	for _, stmt := range metaDDL {
		syExec(t, p.dstDB, strings.NewReplacer(" COLLATE=utf8mb4_bin", "", " COLLATE utf8mb4_bin", "").Replace(stmt))
	}
	cfg := p.config("names", ModeAll, []string{"lower_db.*", "CaseDB.*", "casedb.*"})
	r := syStart(t, cfg, syLog(t))
	time.Sleep(2 * time.Second)
	stop()
	syWaitCaughtUp(t, p, r, 90*time.Second)
	syChecksumsEqual(t, p, 30*time.Second, tables...)
	if err := r.stop(t); err != context.Canceled {
		t.Fatalf("Run returned %v", err)
	}
	var n int
	if err := p.dstDB.QueryRow(`SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'dmplan_meta'
		AND TABLE_COLLATION <> 'utf8mb4_bin'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d dmplan_meta tables are not in utf8mb4_bin (%v)", n, err)
	}
}
