package units

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestSyncDDLFiltersRoutes: DDL in the middle of the stream, tables with
// and without keys, names needing quotes, a filter, a renaming route and
// shards merged into one table — starting from an empty target.
func TestSyncDDLFiltersRoutes(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	var logs bytes.Buffer
	cfg := p.config("ddl", ModeIncremental,
		[]string{"d.*", "!d.skip*", "m_*.o_*", "db2.*"},
		Route{From: "m_*.o_*", To: "merged.orders"}, Route{From: "d.renamed_src", To: "d2.renamed_dst"})
	r := syStart(t, cfg, syLog(t, &logs))
	syWaitCaughtUp(t, p, r, 20*time.Second)

	syExec(t, p.srcDB,
		"CREATE DATABASE d",
		"CREATE TABLE d.t1 (id INT PRIMARY KEY, v VARCHAR(10))",
		"INSERT INTO d.t1 VALUES (1, 'a'), (2, 'b')",
		"ALTER TABLE d.t1 ADD COLUMN w INT DEFAULT 5",
		"INSERT INTO d.t1 VALUES (3, 'c', 30)",
		"UPDATE d.t1 SET w = w + 1",
		// no key at all, duplicate rows
		"CREATE TABLE d.nopk (a INT, b VARCHAR(10), f FLOAT)",
		"INSERT INTO d.nopk VALUES (1, 'x', 1.1), (1, 'x', 1.1), (2, NULL, NULL), (3, 'y', -0.5)",
		"UPDATE d.nopk SET b = 'z' WHERE a = 2",
		"DELETE FROM d.nopk WHERE a = 1 LIMIT 1",
		"UPDATE d.nopk SET f = 2.2 WHERE a = 3",
		// nullable unique key only
		"CREATE TABLE d.nuk (a INT NULL, b INT, UNIQUE KEY (a))",
		"INSERT INTO d.nuk VALUES (1, 1), (NULL, 2), (NULL, 3)",
		"UPDATE d.nuk SET b = 20 WHERE b = 2",
		"DELETE FROM d.nuk WHERE a = 1",
		// names needing quotes
		"CREATE TABLE d.`we``ird tab.le` (`the key` INT PRIMARY KEY, `order` INT, `ключ` VARCHAR(5))",
		"INSERT INTO d.`we``ird tab.le` VALUES (1, 1, 'ä'), (2, 2, 'ö')",
		"UPDATE d.`we``ird tab.le` SET `order` = 10 WHERE `the key` = 1",
		// rename, truncate, drop
		"RENAME TABLE d.t1 TO d.t1b",
		"INSERT INTO d.t1b VALUES (4, 'd', 40)",
		"ALTER TABLE d.t1b RENAME TO d.t1c, ADD INDEX (v)",
		"INSERT INTO d.t1c VALUES (5, 'e', 50)",
		"CREATE TABLE d.tr (id INT PRIMARY KEY)",
		"INSERT INTO d.tr VALUES (1), (2), (3)",
		"TRUNCATE TABLE d.tr",
		"INSERT INTO d.tr VALUES (9)",
		"CREATE TABLE d.gone (id INT PRIMARY KEY)",
		"INSERT INTO d.gone VALUES (1)",
		"DROP TABLE d.gone",
		"CREATE TABLE d.skip_me (id INT PRIMARY KEY)",
		"INSERT INTO d.skip_me VALUES (1)",
		// a unique key whose values move between rows (causality)
		"CREATE TABLE d.uk (id INT PRIMARY KEY, email VARCHAR(20) NOT NULL, UNIQUE KEY (email))",
		"INSERT INTO d.uk VALUES (1, 'a'), (2, 'b'), (3, 'c')",
		"UPDATE d.uk SET email = 'z' WHERE id = 1",
		"UPDATE d.uk SET email = 'a' WHERE id = 2",
		"UPDATE d.uk SET email = 'b' WHERE id = 3",
		"UPDATE d.uk SET email = 'c' WHERE id = 1",
		"UPDATE d.uk SET id = 10 WHERE id = 2",
		"INSERT INTO d.uk VALUES (2, 'y')",
		// a case-insensitive key: delete 'abc', insert 'ABC'
		"CREATE TABLE d.ci (k VARCHAR(10) PRIMARY KEY, v INT)",
		"INSERT INTO d.ci VALUES ('abc', 1)",
		"DELETE FROM d.ci WHERE k = 'abc'",
		"INSERT INTO d.ci VALUES ('ABC', 2)",
		// a renaming route: the target database is created on the way
		"CREATE TABLE d.renamed_src (id INT PRIMARY KEY, v INT)",
		"INSERT INTO d.renamed_src VALUES (1, 1), (2, 2)",
		// shards merged into one table
		"CREATE DATABASE m_1", "CREATE DATABASE m_2",
		"CREATE TABLE m_1.o_1 (id INT PRIMARY KEY, v INT)",
		"CREATE TABLE m_2.o_2 (id INT PRIMARY KEY, v INT)",
		"INSERT INTO m_1.o_1 VALUES (1, 1), (3, 3)",
		"INSERT INTO m_2.o_2 VALUES (2, 2), (4, 4)",
		"ALTER TABLE m_1.o_1 ADD COLUMN x INT DEFAULT 7",
		"ALTER TABLE m_2.o_2 ADD COLUMN x INT DEFAULT 7",
		"UPDATE m_1.o_1 SET x = 8 WHERE id = 1",
		"INSERT INTO m_2.o_2 VALUES (6, 6, 6)",
		// a database that comes and goes; statements that are not replicated
		"CREATE DATABASE db2", "CREATE TABLE db2.x (id INT PRIMARY KEY)", "INSERT INTO db2.x VALUES (1)",
		"DROP DATABASE db2",
		"CREATE USER 'u1'@'localhost' IDENTIFIED BY 'secret-pw-123'",
		"CREATE VIEW d.v AS SELECT * FROM d.t1c",
		"CREATE TABLE d.ctas (PRIMARY KEY (id)) SELECT id, v FROM d.t1c",
		"INSERT INTO d.ctas VALUES (100, 'z')",
		"CREATE TABLE d.`after` (id INT PRIMARY KEY) COMMENT 'a ; semicolon'",
		"INSERT INTO d.`after` VALUES (1)",
	)
	syWaitSame(t, p, 30*time.Second,
		"d.t1c=d.t1c", "d.nopk=d.nopk", "d.nuk=d.nuk", "d.`we``ird tab.le`=d.`we``ird tab.le`", "d.tr=d.tr",
		"d.uk=d.uk", "d.ci=d.ci", "d2.renamed_dst=d.renamed_src", "merged.orders=m_1.o_1,m_2.o_2", "d.`after`=d.`after`", "d.ctas=d.ctas")
	var merged int
	if err := p.dstDB.QueryRow("SELECT COUNT(*) FROM merged.orders").Scan(&merged); err != nil {
		t.Fatal(err)
	}
	// Dropping one shard leaves the merged table (other shards write to it).
	syExec(t, p.srcDB, "DROP TABLE m_1.o_1", "INSERT INTO d.`after` VALUES (2)")
	syWaitSame(t, p, 20*time.Second, "d.`after`=d.`after`")
	var after int
	if err := p.dstDB.QueryRow("SELECT COUNT(*) FROM merged.orders").Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != merged {
		t.Errorf("merged.orders has %d rows after a shard was dropped, want %d", after, merged)
	}
	for _, gone := range []string{"d.gone", "d.skip_me", "db2.x", "d.t1", "d.t1b", "d.v", "m_1.o_1"} {
		var n int
		db, tbl, _ := strings.Cut(gone, ".")
		if err := p.dstDB.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", db, tbl).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("target has %s, want it absent", gone)
		}
	}
	var users int
	if err := p.dstDB.QueryRow("SELECT COUNT(*) FROM mysql.user WHERE User = 'u1'").Scan(&users); err != nil {
		t.Fatal(err)
	}
	if users != 0 {
		t.Error("CREATE USER was replicated")
	}
	r.stop(t)
	if strings.Contains(logs.String(), "secret-pw") {
		t.Error("the logs contain the password of CREATE USER")
	}
}

// TestSyncDDLReplay: a crash between a DDL and the checkpoint that records
// it replays the DDL; the fingerprint of the target tables says it ran,
// so it is not run again (a swap by RENAME would otherwise swap back), and
// the row changes after it are not applied twice.
func TestSyncDDLReplay(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	syExec(t, p.srcDB, "CREATE DATABASE d",
		"CREATE TABLE d.a (id INT PRIMARY KEY, x INT)", "CREATE TABLE d.b (id INT PRIMARY KEY, y VARCHAR(5))")
	syCopySchema(t, p, "d", "a", "b")
	cfg := p.config("replay", ModeIncremental, []string{"d.*"})
	var logs bytes.Buffer
	r := syStart(t, cfg, syLog(t, &logs))
	syWaitCaughtUp(t, p, r, 20*time.Second)
	syExec(t, p.srcDB, "INSERT INTO d.a VALUES (1, 1)", "INSERT INTO d.b VALUES (1, 'b')")
	syWaitSame(t, p, 20*time.Second, "d.a=d.a", "d.b=d.b")
	s := sySyncerFor(t, cfg.Tables)
	plan, err := s.planStatement("d", "RENAME TABLE a TO tmp, b TO a, tmp TO b", 0)
	if err != nil {
		t.Fatal(err)
	}
	before, err := fingerprint(context.Background(), p.dstDB, plan)
	if err != nil {
		t.Fatal(err)
	}
	rewind := syMasterPos(t, p)
	syExec(t, p.srcDB, "RENAME TABLE d.a TO d.tmp, d.b TO d.a, d.tmp TO d.b",
		"INSERT INTO d.a VALUES (2, 'a2')", "INSERT INTO d.b VALUES (2, 2)")
	syWaitSame(t, p, 20*time.Second, "d.a=d.a", "d.b=d.b")
	r.stop(t)

	// As if the run had died after the RENAME, before recording it.
	var ddlFile string
	var ddlPos uint64
	if err := p.dstDB.QueryRow("SELECT ddl_file, ddl_pos FROM dmplan_meta.sync_checkpoint WHERE task = 'replay'").Scan(&ddlFile, &ddlPos); err != nil {
		t.Fatal(err)
	}
	syExec(t, p.dstDB, fmt.Sprintf(`UPDATE dmplan_meta.sync_checkpoint SET ddl_file = '', ddl_pos = 0,
		pending_file = '%s', pending_pos = %d, pending_fp = '%s', binlog_file = '%s', binlog_pos = %d, gtid = ''
		WHERE task = 'replay'`, ddlFile, ddlPos, before, rewind.File, rewind.Pos))
	r = syStart(t, cfg, syLog(t, &logs))
	syExec(t, p.srcDB, "INSERT INTO d.a VALUES (3, 'a3')")
	syWaitCaughtUp(t, p, r, 20*time.Second)
	syWaitSame(t, p, 20*time.Second, "d.a=d.a", "d.b=d.b")
	r.stop(t)
	if !strings.Contains(logs.String(), "DDL found applied before a restart") {
		t.Error("the replayed DDL was not recognised as applied")
	}
}
