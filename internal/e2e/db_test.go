package e2e

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/dmplan/dmplan/internal/mariadbtest"
	"github.com/dmplan/dmplan/units"
)

// dataset is one test's data: a database on the source (same name on the
// target), a source user for dmplan and a target user, with passwords in
// the cluster's environment.
type dataset struct {
	t          *testing.T
	name       string // task name (a DNS label)
	db         string // database name
	srcUser    string
	tgtUser    string
	srcPWVar   string // the ${VAR} of the source password
	tgtPWVar   string
	src, tgt   *sql.DB // root
	tables     []string
	nextUpdate atomic.Int64
	srv        *mariadbtest.Server // the source server (the shared one unless newDatasetOn)
}

// newDataset creates database e2e_<name> with tables t1 (rows rows) and
// t2 on the source, the users, and drops leftovers on the target.
func newDataset(t *testing.T, c *cluster, name string, rows int) *dataset {
	t.Helper()
	return newDatasetOn(t, c, source, name, rows)
}

// newDatasetOn is newDataset on another source server.
func newDatasetOn(t *testing.T, c *cluster, srv *mariadbtest.Server, name string, rows int) *dataset {
	t.Helper()
	under := strings.ReplaceAll(name, "-", "_")
	d := &dataset{
		t: t, name: name, db: "e2e_" + under, srcUser: "u_" + under, tgtUser: "t_" + under,
		srcPWVar: "SRC_PW_" + strings.ToUpper(under), tgtPWVar: "TGT_PW_" + strings.ToUpper(under),
		tables: []string{"t1", "t2"}, srv: srv,
	}
	var err error
	if d.src, err = srv.DB(""); err != nil {
		t.Fatal(err)
	}
	if d.tgt, err = target.DB(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.src.Close(); d.tgt.Close() })
	c.env[d.srcPWVar] = "src-" + name + "-pw1"
	c.env[d.tgtPWVar] = "tgt-" + name + "-pw"
	d.exec(d.tgt,
		"DROP DATABASE IF EXISTS `"+d.db+"`",
		"DROP USER IF EXISTS '"+d.tgtUser+"'@'127.0.0.1'",
		"CREATE USER '"+d.tgtUser+"'@'127.0.0.1' IDENTIFIED BY '"+c.env[d.tgtPWVar]+"'",
		"GRANT ALL ON *.* TO '"+d.tgtUser+"'@'127.0.0.1'",
	)
	// A previous run of this test (go test -count=N) left the subtask's
	// checkpoints in the target; the dataset starts anew, so forget them.
	ctx := context.Background()
	if err := units.ResetDumpLoad(ctx, d.tgt, name, "src-"+name); err != nil {
		t.Fatal(err)
	}
	if err := units.ResetSync(ctx, d.tgt, name, "src-"+name); err != nil {
		t.Fatal(err)
	}
	for _, tb := range []string{"subtask_config", "subtask_table"} {
		if _, err := d.tgt.Exec("DELETE FROM dmplan_meta."+tb+" WHERE task = ? AND source = ?", name, "src-"+name); err != nil &&
			!strings.Contains(err.Error(), "1146") { // the table does not exist yet
			t.Fatal(err)
		}
	}
	d.exec(d.src,
		"DROP DATABASE IF EXISTS `"+d.db+"`",
		"DROP USER IF EXISTS '"+d.srcUser+"'@'127.0.0.1'",
		"CREATE USER '"+d.srcUser+"'@'127.0.0.1' IDENTIFIED BY '"+c.env[d.srcPWVar]+"'",
		"GRANT SELECT, RELOAD, LOCK TABLES, SHOW VIEW, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '"+d.srcUser+"'@'127.0.0.1'",
	)
	d.fill(d.src, rows)
	return d
}

// fill creates the dataset's database and tables on db with rows rows in
// t1: the same rows on every server (a mode incremental target starts
// with the source's rows).
func (d *dataset) fill(db *sql.DB, rows int) {
	d.t.Helper()
	d.exec(db,
		"CREATE DATABASE `"+d.db+"`",
		"CREATE TABLE `"+d.db+"`.t1 (id BIGINT AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL, c VARCHAR(120) NOT NULL, "+
			"pad CHAR(60) NOT NULL, v DECIMAL(12,2) NULL, ts DATETIME(6) NOT NULL, KEY (k))",
		"CREATE TABLE `"+d.db+"`.t2 (id INT PRIMARY KEY, note TEXT)",
		"INSERT INTO `"+d.db+"`.t2 VALUES (1, 'zoë'), (2, NULL), (3, 'plain')",
	)
	for done := 0; done < rows; done += 100000 {
		n := min(100000, rows-done)
		d.exec(db, fmt.Sprintf("INSERT INTO `%s`.t1 (k, c, pad, v, ts) SELECT seq %% 1000, CONCAT('row-', seq), "+
			"REPEAT('p', 60), seq / 7, '2026-01-02 03:04:05.123456' FROM `%s`.seq_1_to_%d", d.db, d.db, n))
	}
}

func (d *dataset) exec(db *sql.DB, stmts ...string) {
	d.t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			d.t.Fatalf("%s: %v", s, err)
		}
	}
}

// sourceYAML is the dataset's Source document.
func (d *dataset) sourceYAML() string {
	return fmt.Sprintf(`apiVersion: dmplan/v1
kind: Source
metadata:
  name: src-%s
spec:
  host: 127.0.0.1
  port: %d
  user: %s
  password: ${%s}
  flavor: mariadb
`, d.name, d.srv.Port, d.srcUser, d.srcPWVar)
}

// taskYAML is the dataset's Task document (mode all) in stage.
func (d *dataset) taskYAML(stage string) string { return d.taskYAMLWith(stage, "") }

// taskYAMLWith adds extra (indented spec fields) to the Task document.
func (d *dataset) taskYAMLWith(stage, extra string) string {
	return fmt.Sprintf(`apiVersion: dmplan/v1
kind: Task
metadata:
  name: %s
spec:
  mode: all
  stage: %s
  target:
    host: 127.0.0.1
    port: %d
    user: %s
    password: ${%s}
  sources:
    - src-%s
  tables:
    - "%s.*"
%s`, d.name, stage, target.Port, d.tgtUser, d.tgtPWVar, d.name, d.db, extra)
}

// binlogReader returns the processlist ID of the dataset user's binlog
// dump connection (0 when there is none).
func (d *dataset) binlogReader() (int64, error) {
	var id int64
	err := d.src.QueryRow("SELECT COALESCE(MAX(ID), 0) FROM information_schema.PROCESSLIST WHERE USER = ? AND COMMAND LIKE 'Binlog Dump%'", d.srcUser).Scan(&id)
	return id, err
}

// sourceConns counts the source connections of the dataset's user (the
// units' binlog reader and dump connections).
func (d *dataset) sourceConns() (int, error) {
	var n int
	err := d.src.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?", d.srcUser).Scan(&n)
	return n, err
}

// writer changes the source's rows until stopped: inserts, updates and
// deletes, each its own transaction.
type writer struct {
	stop chan struct{}
	done chan struct{}
	ops  atomic.Int64
	mu   sync.Mutex
	err  error
}

func (d *dataset) startWriter(perSecond int) *writer {
	w := &writer{stop: make(chan struct{}), done: make(chan struct{})}
	db, err := d.srv.DB(d.db)
	if err != nil {
		d.t.Fatal(err)
	}
	go func() {
		defer close(w.done)
		defer db.Close()
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
		tick := time.NewTicker(time.Second / time.Duration(perSecond))
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			var err error
			switch op := rng.IntN(10); {
			case op < 5:
				_, err = db.Exec("INSERT INTO t1 (k, c, pad, v, ts) VALUES (?, ?, 'w', ?, NOW(6))", rng.IntN(1000), fmt.Sprintf("w-%d", rng.Int()), rng.IntN(100000))
			case op < 8:
				_, err = db.Exec("UPDATE t1 SET c = ?, v = NULL WHERE id = ?", fmt.Sprintf("u-%d", rng.Int()), 1+rng.IntN(max(1, int(w.ops.Load())+1000)))
			case op < 9:
				_, err = db.Exec("DELETE FROM t1 WHERE id = ?", 1+rng.IntN(max(1, int(w.ops.Load())+1000)))
			default:
				_, err = db.Exec("INSERT INTO t2 (id, note) VALUES (?, ?) ON DUPLICATE KEY UPDATE note = VALUES(note)", rng.IntN(500), fmt.Sprintf("n-%d", rng.Int()))
			}
			if err != nil {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
				return
			}
			w.ops.Add(1)
		}
	}()
	return w
}

// halt stops the writer and fails the test if a write failed.
func (w *writer) halt(t *testing.T) int64 {
	t.Helper()
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		t.Fatalf("writer: %v", w.err)
	}
	return w.ops.Load()
}

// fingerprint is a cheap server-side digest of every table: row count and
// the sum of a CRC of each row.
func (d *dataset) fingerprint(db *sql.DB) (string, error) {
	var parts []string
	for _, tb := range d.tables {
		cols := "id, k, c, pad, IFNULL(v, '\\N'), ts"
		if tb == "t2" {
			cols = "id, IFNULL(note, '\\N')"
		}
		var n, sum int64
		q := fmt.Sprintf("SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', %s))), 0) FROM `%s`.`%s`", cols, d.db, tb)
		if err := db.QueryRow(q).Scan(&n, &sum); err != nil {
			return "", err
		}
		parts = append(parts, fmt.Sprintf("%s:%d:%d", tb, n, sum))
	}
	return strings.Join(parts, " "), nil
}

// rows returns t1's row count on db.
func (d *dataset) rows(db *sql.DB) (int64, error) {
	var n int64
	err := db.QueryRow("SELECT COUNT(*) FROM `" + d.db + "`.t1").Scan(&n)
	return n, err
}

// waitEqual waits until the target holds exactly the source's rows, then
// checks row by row.
func (d *dataset) waitEqual(timeout time.Duration) time.Duration {
	d.t.Helper()
	var want, got string
	took := waitFor(d.t, timeout, "the target to equal the source", func() (bool, error) {
		var err error
		if want, err = d.fingerprint(d.src); err != nil {
			return false, err
		}
		got, err = d.fingerprint(d.tgt)
		return err == nil && got == want, err
	})
	for _, tb := range d.tables {
		s, err1 := d.tableDigest(d.src, tb)
		g, err2 := d.tableDigest(d.tgt, tb)
		if err1 != nil || err2 != nil {
			d.t.Fatalf("digest %s: %v, %v", tb, err1, err2)
		}
		if s != g {
			d.t.Fatalf("table %s.%s differs row by row: source %s, target %s", d.db, tb, s, g)
		}
	}
	return took
}

// tableDigest hashes every row of a table in key order, client-side.
func (d *dataset) tableDigest(db *sql.DB, tb string) (string, error) {
	rows, err := db.Query(fmt.Sprintf("SELECT * FROM `%s`.`%s` ORDER BY id", d.db, tb))
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	h := sha256.New()
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return "", err
		}
		for _, v := range vals {
			if v == nil {
				h.Write([]byte{0xff})
			} else {
				fmt.Fprintf(h, "%d:%s", len(v), v)
			}
		}
		n++
	}
	return fmt.Sprintf("%d rows %s", n, hex.EncodeToString(h.Sum(nil))[:16]), rows.Err()
}
