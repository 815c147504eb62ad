package units

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestSyncOnlineDDLPtOSC: pt-online-schema-change (Debian's
// percona-toolkit) ALTERs a table under writes while sync runs. The
// subtask is stopped after the ALTER of the shadow table was recorded and
// started again after the swap, so the swap is applied from what
// dmplan_meta kept. At the end the target table has the new definition
// and the source's checksum, and no shadow or trash table.
func TestSyncOnlineDDLPtOSC(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	pt, err := exec.LookPath("pt-online-schema-change")
	if err != nil {
		t.Skip("pt-online-schema-change not installed (Debian package percona-toolkit)")
	}
	syOnlineDDL(t, func(port int) *exec.Cmd {
		return exec.Command(pt, "--alter", "ADD COLUMN c INT NOT NULL DEFAULT 5, ADD INDEX iv (v)",
			"--execute", "--recursion-method=none", "--chunk-size=500", "--sleep=0.05",
			"--no-check-unique-key-change", "--set-vars", "lock_wait_timeout=10",
			fmt.Sprintf("h=127.0.0.1,P=%d,u=root,D=o,t=t", port))
	})
}

// syOnlineDDL runs an online schema change tool on o.t under writes while
// sync runs (see TestSyncOnlineDDLPtOSC).
func syOnlineDDL(t *testing.T, tool func(port int) *exec.Cmd) {
	p := newSyPair(t)
	syExec(t, p.srcDB, "CREATE DATABASE o",
		"CREATE TABLE o.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL, s VARCHAR(32) NOT NULL)",
		"INSERT INTO o.t (v, s) SELECT seq, CONCAT('r', seq) FROM o.seq_1_to_20000",
		"CREATE TABLE o.other (id INT PRIMARY KEY, n INT NOT NULL)",
		"INSERT INTO o.other VALUES (1, 0), (2, 0)")
	cfg := p.config("osc", ModeAll, []string{"o.*"})
	log := syLog(t)
	r := syStart(t, cfg, log)

	// Writes on the table being changed and on another one, until stopped.
	ctx, cancel := context.WithCancel(context.Background())
	var ops atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		rng := rand.New(rand.NewPCG(3, 9))
		for ctx.Err() == nil {
			id := 1 + rng.IntN(20000)
			var q string
			switch n := rng.IntN(10); {
			case n < 5:
				q = fmt.Sprintf("UPDATE o.t SET v = v + 1 WHERE id = %d", id)
			case n < 7:
				q = "INSERT INTO o.t (v, s) VALUES (1, 'new')"
			case n < 8:
				q = fmt.Sprintf("DELETE FROM o.t WHERE id = %d", id)
			default:
				q = fmt.Sprintf("UPDATE o.other SET n = n + 1 WHERE id = %d", 1+id%2)
			}
			if _, err := p.srcDB.ExecContext(ctx, q); err == nil {
				ops.Add(1)
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	syWaitCaughtUp(t, p, r, 120*time.Second)

	osc := tool(p.src.Port)
	var out strings.Builder
	osc.Stdout, osc.Stderr = &out, &out
	if err := osc.Start(); err != nil {
		t.Fatal(err)
	}
	oscDone := make(chan error, 1)
	go func() { oscDone <- osc.Wait() }()

	// Stop the subtask once the shadow's ALTER is recorded, before the swap.
	recorded := false
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && !recorded; {
		var n int
		err := p.dstDB.QueryRow("SELECT COUNT(*) FROM dmplan_meta.online_ddl WHERE task = 'osc' AND stmt <> ''").Scan(&n)
		recorded = err == nil && n > 0
		select {
		case err := <-oscDone:
			oscDone <- err
			if !recorded {
				t.Fatalf("the tool ended (%v) before sync recorded its ALTER:\n%s", err, out.String())
			}
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !recorded {
		t.Fatalf("the shadow table's ALTER was not recorded in dmplan_meta.online_ddl; the tool says:\n%s", out.String())
	}
	if err := r.stop(t); err != context.Canceled {
		t.Fatalf("Run returned %v", err)
	}
	if err := <-oscDone; err != nil {
		t.Fatalf("%s: %v\n%s", osc.Path, err, out.String())
	}
	t.Logf("%s:\n%s", osc.Path, out.String())

	r = syStart(t, cfg, log)
	time.Sleep(500 * time.Millisecond) // writes go on after the swap
	cancel()
	<-done
	syWaitCaughtUp(t, p, r, 120*time.Second)
	syChecksumsEqual(t, p, 60*time.Second, [2]string{"o.t", "o.t"}, [2]string{"o.other", "o.other"})
	var def string
	var name string
	if err := p.dstDB.QueryRow("SHOW CREATE TABLE o.t").Scan(&name, &def); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(def, "`c` int(11) NOT NULL DEFAULT 5") || !strings.Contains(def, "KEY `iv`") {
		t.Errorf("the target table lacks the ALTER:\n%s", def)
	}
	rows, err := p.dstDB.Query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'o'")
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	if strings.Join(tables, ",") != "other,t" {
		t.Errorf("target tables of o: %v, want other and t only (no shadow or trash table)", tables)
	}
	if ops.Load() == 0 {
		t.Fatal("no write happened")
	}
	t.Logf("%s writes during the test", strconv.FormatInt(ops.Load(), 10))
}
