package units

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestSyncModeAll: mode all under writes, cancelled at random points
// (during the dump and load, and during sync): the target ends equal to
// the source.
func TestSyncModeAll(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	syExec(t, p.srcDB, "CREATE DATABASE c")
	syExec(t, p.srcDB, syAuditTables...)
	syExec(t, p.srcDB,
		"INSERT INTO c.acct SELECT seq, seq, 0, REPEAT('x', 40) FROM c.seq_1_to_30000",
		"INSERT INTO c.nokey SELECT seq % 5, seq FROM c.seq_1_to_2000",
		"INSERT INTO c.uk VALUES (1, 1, 0), (2, 2, 0), (3, 3, 0)")
	cfg := p.config("all", ModeAll, []string{"c.*"})
	log := syLog(t)
	w := syStartWriter(t, p.srcDB, 21)
	rng := rand.New(rand.NewPCG(4, 5))
	for i := 0; i < 6; i++ {
		r := syStart(t, cfg, log)
		time.Sleep(time.Duration(100+rng.IntN(900)) * time.Millisecond)
		if err := r.stop(t); !errors.Is(err, context.Canceled) {
			t.Fatalf("run %d: Run returned %v, want context.Canceled", i, err)
		}
	}
	r := syStart(t, cfg, log)
	time.Sleep(time.Second)
	w.stop()
	syWaitCaughtUp(t, p, r, 60*time.Second)
	syWaitSame(t, p, 30*time.Second, "c.acct=c.acct", "c.nokey=c.nokey", "c.uk=c.uk")
	r.stop(t)
}

// TestSyncModeFull: mode full loads the tables, reports Finished and
// returns nil.
func TestSyncModeFull(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	syExec(t, p.srcDB, "CREATE DATABASE c")
	syExec(t, p.srcDB, syAuditTables...)
	syExec(t, p.srcDB, "INSERT INTO c.acct SELECT seq, seq, 0, 'x' FROM c.seq_1_to_1000")
	cfg := p.config("full", ModeFull, []string{"c.*"})
	var finished bool
	err := Run(context.Background(), cfg, ReporterFunc(func(pr Progress) {
		if pr.Finished {
			finished = true
		}
	}), syLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if !finished {
		t.Error("Run did not report Finished")
	}
	syWaitSame(t, p, time.Second, "c.acct=c.acct", "c.nokey=c.nokey", "c.uk=c.uk")

	// A fresh target gets only the tables a copy uses (copyTables), and
	// readers of sync's checkpoints see none.
	if got, want := syMetaTables(t, p), slices.Sorted(maps.Keys(copyTables)); !slices.Equal(got, want) {
		t.Errorf("dmplan_meta after a full copy: %v, want %v", got, want)
	}
	if st, err := ReadSyncState(context.Background(), p.dstDB, "full", "src"); err != nil || !st.LoadDone || st.Syncing {
		t.Errorf("ReadSyncState after a full copy = %+v, %v; want load done, not syncing", st, err)
	}
	// The task moves to mode all (a fresh start): sync's tables come with it
	// and it replicates.
	cfg.Mode = ModeAll
	r := syStart(t, cfg, syLog(t))
	syExec(t, p.srcDB, "INSERT INTO c.acct SELECT seq, seq, 0, 'y' FROM c.seq_1001_to_1100")
	syWaitCaughtUp(t, p, r, 60*time.Second)
	syWaitSame(t, p, 30*time.Second, "c.acct=c.acct", "c.nokey=c.nokey", "c.uk=c.uk")
	r.stop(t)
	if got := syMetaTables(t, p); len(got) != len(metaDDL)-1 {
		t.Errorf("dmplan_meta after mode all: %v, want all %d tables", got, len(metaDDL)-1)
	}
}

// syMetaTables lists the tables of dmplan_meta on p's target.
func syMetaTables(t testing.TB, p *syPair) []string {
	t.Helper()
	rows, err := p.dstDB.Query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'dmplan_meta' ORDER BY TABLE_NAME")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	return names
}
