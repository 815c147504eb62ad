package units

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkSyncForeignKeys measures what applying a cascading foreign-key
// group in binlog order on one worker costs: the same backlog of row
// changes to a parent and a child table is synced (mode incremental, 4
// workers, batch 100) once with the child's key ON DELETE CASCADE (one
// group: one worker, one statement per change, foreign_key_checks=1) and
// once without a foreign key (parallel, grouped statements), on the same
// servers. It reports rows/s of each.
//
//	[DMPLAN_FK_BENCH_TX=20000] go test ./units -run '^$' -bench SyncForeignKeys -benchtime 1x
func BenchmarkSyncForeignKeys(b *testing.B) {
	p := newSyPair(b)
	const parents, children = 10000, 50000
	for _, db := range []string{"fkc", "fkn"} {
		fk := ""
		if db == "fkc" {
			fk = ", CONSTRAINT fk_parent FOREIGN KEY (pid) REFERENCES parent (id) ON DELETE CASCADE"
		}
		syExec(b, p.srcDB, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".parent (id INT PRIMARY KEY, v INT NOT NULL, pad CHAR(60) NOT NULL)",
			"CREATE TABLE "+db+".child (id INT PRIMARY KEY, pid INT NOT NULL, v INT NOT NULL, pad CHAR(60) NOT NULL, KEY (pid)"+fk+")",
			fmt.Sprintf("INSERT INTO %s.parent SELECT seq, 0, 'p' FROM %s.seq_1_to_%d", db, db, parents),
			fmt.Sprintf("INSERT INTO %s.child SELECT seq, 1 + seq %% %d, 0, 'c' FROM %s.seq_1_to_%d", db, parents, db, children))
		syCopySchema(b, p, db, "parent", "child")
		syExec(b, p.dstDB, "SET SESSION foreign_key_checks = 0",
			fmt.Sprintf("INSERT INTO %s.parent SELECT seq, 0, 'p' FROM %s.seq_1_to_%d", db, db, parents),
			fmt.Sprintf("INSERT INTO %s.child SELECT seq, 1 + seq %% %d, 0, 'c' FROM %s.seq_1_to_%d", db, parents, db, children))
	}
	txs := 20000
	if v, err := strconv.Atoi(os.Getenv("DMPLAN_FK_BENCH_TX")); err == nil && v > 0 {
		txs = v
	}
	for round, db := range []string{"fkn", "fkc", "fkn", "fkc"} {
		start := syMasterPos(b, p)
		cfg := p.config(fmt.Sprintf("bench-%d", round), ModeIncremental, []string{db + ".*"})
		cfg.Start = start
		cfg.SyncBatch = 100
		// Start once with nothing to do (precheck, checkpoint, connections):
		// the same start costs the timed run too, and is taken off it.
		began := time.Now()
		r := syStart(b, cfg, nil)
		syWaitCaughtUp(b, p, r, 5*time.Minute)
		idle := time.Since(began)
		r.stop(b)
		rows := fkBacklog(b, p, db, txs, parents, children, children+round*txs)
		b.ResetTimer()
		tcpu0, scpu0, q0 := fkBenchCPU(b, p)
		began = time.Now()
		r = syStart(b, cfg, nil)
		syWaitCaughtUp(b, p, r, 10*time.Minute)
		took := time.Since(began)
		tcpu1, scpu1, q1 := fkBenchCPU(b, p)
		r.stop(b)
		net := took - idle
		b.Logf("%s (%s): %d row changes in %.2f s (%.2f s less a start with nothing to do, %.2f s): %.0f rows/s; "+
			"per 10k rows: target CPU %.2f s, dmplan CPU %.2f s, %.0f target statements",
			db, map[string]string{"fkc": "ON DELETE CASCADE group", "fkn": "no foreign key"}[db],
			rows, took.Seconds(), net.Seconds(), idle.Seconds(), float64(rows)/net.Seconds(),
			(tcpu1-tcpu0)*1e4/float64(rows), (scpu1-scpu0)*1e4/float64(rows), float64(q1-q0)*1e4/float64(rows))
	}
}

// fkBacklog writes txs transactions to db's parent and child tables from
// 4 connections: each updates a parent, inserts, updates and deletes
// children; one in 20 deletes a parent. It returns the row changes the
// binlog holds (an estimate: cascaded deletes are not in it).
func fkBacklog(b *testing.B, p *syPair, db string, txs, parents, children, firstID int) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 3))
			n := 0
			for i := 0; i < txs/4; i++ {
				tx, err := p.srcDB.BeginTx(context.Background(), nil)
				if err != nil {
					b.Error(err)
					return
				}
				pid := 1 + rng.IntN(parents)
				cid := firstID + g*txs/4 + i + 1
				for _, q := range []string{
					fmt.Sprintf("UPDATE %s.parent SET v = v + 1 WHERE id = %d", db, pid),
					fmt.Sprintf("INSERT INTO %s.child VALUES (%d, %d, 0, 'n')", db, cid, pid),
					fmt.Sprintf("UPDATE %s.child SET v = v + 1 WHERE id = %d", db, 1+rng.IntN(children)),
					fmt.Sprintf("DELETE FROM %s.child WHERE id = %d", db, 1+rng.IntN(children)),
				} {
					res, err := tx.Exec(q)
					if err != nil {
						continue // a parent deleted earlier
					}
					k, _ := res.RowsAffected()
					n += int(k)
				}
				if i%20 == 0 {
					res, err := tx.Exec(fmt.Sprintf("DELETE FROM %s.parent WHERE id = %d", db, 1+rng.IntN(parents)))
					if err == nil {
						k, _ := res.RowsAffected()
						n += int(k)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Error(err)
					return
				}
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	return total
}

// fkBenchCPU reads the target server's CPU seconds (its /proc stat), this
// process's, and the target's Questions counter.
func fkBenchCPU(b *testing.B, p *syPair) (target, self float64, questions int64) {
	pid, err := os.ReadFile(filepath.Join(p.dst.Dir, "mariadbd.pid"))
	if err != nil {
		b.Fatal(err)
	}
	stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	var name string
	if err := p.dstDB.QueryRow("SHOW GLOBAL STATUS LIKE 'Questions'").Scan(&name, &questions); err != nil {
		b.Fatal(err)
	}
	return (ut + st) / 100, self, questions
}
