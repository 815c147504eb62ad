package units

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestSplitDeferrableKeys(t *testing.T) {
	const sb = "CREATE TABLE `sbtest1` (\n" +
		"  `id` int(11) NOT NULL AUTO_INCREMENT,\n" +
		"  `k` int(11) NOT NULL DEFAULT 0,\n" +
		"  `c` char(120) NOT NULL DEFAULT '',\n" +
		"  PRIMARY KEY (`id`),\n" +
		"  KEY `k_1` (`k`)\n" +
		") ENGINE=InnoDB AUTO_INCREMENT=100001 DEFAULT CHARSET=utf8mb4"
	for _, tc := range []struct {
		name, ddl, autoInc string
		stmt               string
		keys               []string
	}{
		{name: "sysbench", ddl: sb, autoInc: "id",
			stmt: "CREATE TABLE `sbtest1` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  `k` int(11) NOT NULL DEFAULT 0,\n" +
				"  `c` char(120) NOT NULL DEFAULT '',\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB AUTO_INCREMENT=100001 DEFAULT CHARSET=utf8mb4",
			keys: []string{"KEY `k_1` (`k`)"}},
		{name: "unique, fulltext and spatial stay; options come along",
			ddl: "CREATE TABLE `t` (\n  `a` int NOT NULL,\n  `b``x` varchar(20),\n  `g` point NOT NULL,\n  PRIMARY KEY (`a`),\n" +
				"  UNIQUE KEY `u` (`b``x`),\n  KEY `two` (`b``x`(5),`a`) COMMENT 'c, d',\n  FULLTEXT KEY `f` (`b``x`),\n  SPATIAL KEY `s` (`g`)\n) ENGINE=InnoDB",
			stmt: "CREATE TABLE `t` (\n  `a` int NOT NULL,\n  `b``x` varchar(20),\n  `g` point NOT NULL,\n  PRIMARY KEY (`a`),\n" +
				"  UNIQUE KEY `u` (`b``x`),\n  FULLTEXT KEY `f` (`b``x`),\n  SPATIAL KEY `s` (`g`)\n) ENGINE=InnoDB",
			keys: []string{"KEY `two` (`b``x`(5),`a`) COMMENT 'c, d'"}},
		{name: "the AUTO_INCREMENT column's only key stays",
			ddl:     "CREATE TABLE `t` (\n  `a` int NOT NULL,\n  `id` int NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`a`),\n  KEY `id` (`id`),\n  KEY `b` (`a`,`id`)\n) ENGINE=InnoDB",
			autoInc: "id",
			stmt:    "CREATE TABLE `t` (\n  `a` int NOT NULL,\n  `id` int NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`a`),\n  KEY `id` (`id`)\n) ENGINE=InnoDB",
			keys:    []string{"KEY `b` (`a`,`id`)"}},
		{name: "foreign keys: nothing waits",
			ddl:  "CREATE TABLE `c` (\n  `id` int NOT NULL,\n  `p` int,\n  PRIMARY KEY (`id`),\n  KEY `p` (`p`),\n  CONSTRAINT `fk` FOREIGN KEY (`p`) REFERENCES `par` (`id`)\n) ENGINE=InnoDB",
			stmt: "CREATE TABLE `c` (\n  `id` int NOT NULL,\n  `p` int,\n  PRIMARY KEY (`id`),\n  KEY `p` (`p`),\n  CONSTRAINT `fk` FOREIGN KEY (`p`) REFERENCES `par` (`id`)\n) ENGINE=InnoDB"},
		{name: "not InnoDB", ddl: strings.Replace(sb, "InnoDB", "MyISAM", 1), autoInc: "id", stmt: strings.Replace(sb, "InnoDB", "MyISAM", 1)},
		{name: "system versioning", ddl: sb + " WITH SYSTEM VERSIONING", autoInc: "id", stmt: sb + " WITH SYSTEM VERSIONING"},
		{name: "a table of keys only keeps them",
			ddl:  "CREATE TABLE `t` (\n  KEY `a` (`a`)\n) ENGINE=InnoDB",
			stmt: "CREATE TABLE `t` (\n  KEY `a` (`a`)\n) ENGINE=InnoDB"},
		{name: "partitioned",
			ddl:  "CREATE TABLE `t` (\n  `a` int NOT NULL,\n  `b` int,\n  PRIMARY KEY (`a`),\n  KEY `b` (`b`)\n) ENGINE=InnoDB\n PARTITION BY HASH (`a`)\nPARTITIONS 4",
			stmt: "CREATE TABLE `t` (\n  `a` int NOT NULL,\n  `b` int,\n  PRIMARY KEY (`a`)\n) ENGINE=InnoDB\n PARTITION BY HASH (`a`)\nPARTITIONS 4",
			keys: []string{"KEY `b` (`b`)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stmt, keys := splitDeferrableKeys(tc.ddl, tc.autoInc)
			if stmt != tc.stmt || !slices.Equal(keys, tc.keys) {
				t.Errorf("got\n%s\n%q\nwant\n%s\n%q", stmt, keys, tc.stmt, tc.keys)
			}
			for _, k := range keys {
				if keyDefName(k) == "" {
					t.Errorf("keyDefName(%q) is empty", k)
				}
			}
		})
	}
}

// TestDumpLoadKeysAfterLoad: the load creates tables without their plain
// secondary keys and adds them after the rows; interrupted just before,
// and with one key added by an earlier run, it resumes to the source's
// definitions. Keys that foreign keys or AUTO_INCREMENT need stay.
func TestDumpLoadKeysAfterLoad(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newDLPair(t)
	dlExec(t, p.srcDB, "CREATE DATABASE ks",
		"CREATE TABLE ks.t (id INT PRIMARY KEY, k INT NOT NULL, c VARCHAR(40) NOT NULL, u INT, "+
			"KEY k (k), KEY kc (k, c(5)) COMMENT 'two', UNIQUE KEY u (u), FULLTEXT KEY ft (c))",
		"INSERT INTO ks.t SELECT seq, seq * 7 % 101, MD5(seq), seq FROM mysql.seq_1_to_3000",
		"CREATE TABLE ks.ai (a INT NOT NULL, id INT NOT NULL AUTO_INCREMENT, b INT, PRIMARY KEY (a), KEY id (id), KEY b (b))",
		"INSERT INTO ks.ai (a, b) SELECT seq, seq % 13 FROM mysql.seq_1_to_8000", // its last chunks go by INSERT (chunkMethod)
		"CREATE TABLE ks.par (id INT PRIMARY KEY, g INT, KEY g (g))",
		"INSERT INTO ks.par SELECT seq, seq FROM mysql.seq_1_to_50",
		"CREATE TABLE ks.chi (id INT PRIMARY KEY, pg INT, x INT, KEY x (x), FOREIGN KEY (pg) REFERENCES ks.par (g))",
		"INSERT INTO ks.chi SELECT seq, seq % 50 + 1, seq FROM mysql.seq_1_to_200")
	cfg := p.config("keys", []string{"ks.*"})
	ctx, cancel := context.WithCancel(context.Background())
	var deferred []string
	opts := DumpLoadOptions{ChunkRows: 500, beforeKeys: func(dst tableRef) { deferred = append(deferred, dst.String()); cancel() }}
	if _, err := DumpLoadWith(ctx, cfg, opts, nil, dlLog(t)); !errors.Is(err, context.Canceled) {
		t.Fatalf("first attempt, stopped before the keys: %v", err)
	}
	// The first table to get its keys was stopped before; the record
	// says what it still needs, and the load is not done.
	if len(deferred) == 0 {
		t.Fatal("no keys deferred")
	}
	keys, err := readDeferredKeys(context.Background(), p.dstDB, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[tableRef][]string{{"ks", "t"}: {"KEY `k` (`k`)", "KEY `kc` (`k`,`c`(5)) COMMENT 'two'"}, {"ks", "ai"}: {"KEY `b` (`b`)"}}
	if !maps.EqualFunc(keys, want, slices.Equal) {
		t.Errorf("deferred keys %q, want %q", keys, want)
	}
	if _, done, _ := loadDone(context.Background(), p.dstDB, "keys", "src"); done {
		t.Error("load_done written while keys are missing")
	}
	// An earlier run added one key of ks.t and stopped before forgetting it.
	dlExec(t, p.dstDB, "ALTER TABLE ks.t ADD KEY `k` (`k`)")

	dlRun(t, cfg, DumpLoadOptions{ChunkRows: 500})
	dlSame(t, p, "ks.t", "ks.ai", "ks.par", "ks.chi")
	for _, tb := range []string{"ks.t", "ks.ai", "ks.par", "ks.chi"} {
		if a, b := keyLines(t, p.srcDB, tb), keyLines(t, p.dstDB, tb); !slices.Equal(a, b) {
			t.Errorf("%s: source\n%s\ntarget\n%s", tb, strings.Join(a, "\n"), strings.Join(b, "\n"))
		}
	}
	if keys, err := readDeferredKeys(context.Background(), p.dstDB, cfg); err != nil || len(keys) != 0 {
		t.Errorf("deferred keys left after the load: %v, %v", keys, err)
	}
}

var autoIncRE = regexp.MustCompile(` AUTO_INCREMENT=\d+`)

// keyLines is a table's SHOW CREATE TABLE, one definition a line, sorted
// (keys added later come last), without the AUTO_INCREMENT counter.
func keyLines(t *testing.T, db *sql.DB, table string) []string {
	t.Helper()
	var name, ddl string
	if err := db.QueryRow("SHOW CREATE TABLE "+table).Scan(&name, &ddl); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(autoIncRE.ReplaceAllString(ddl, ""), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, ",")
	}
	slices.Sort(lines)
	return lines
}

// TestChunkMethod: LOAD DATA until fewer tables are left than loaders,
// then INSERT for tables with an AUTO_INCREMENT column.
func TestChunkMethod(t *testing.T) {
	ai := &tableJob{method: MethodLoadData, def: &Table{Columns: []Column{{Name: "id", AutoInc: true}}}}
	plain := &tableJob{method: MethodLoadData, def: &Table{Columns: []Column{{Name: "id"}}}}
	for _, tc := range []struct {
		tail        bool
		total, done int64
		j           *tableJob
		want        string
	}{
		{true, 8, 4, ai, MethodLoadData},
		{true, 8, 5, ai, MethodInsert},
		{true, 8, 7, plain, MethodLoadData},
		{false, 8, 7, ai, MethodLoadData}, // an explicit method, or innodb_autoinc_lock_mode=2
	} {
		d := &dumper{opts: &DumpLoadOptions{Loaders: 4}, tailInsert: tc.tail, tablesTotal: int(tc.total)}
		d.tablesDoneN.Store(tc.done)
		if got := d.chunkMethod(tc.j); got != tc.want {
			t.Errorf("tail %v, %d of %d tables done, auto-increment %v: %s, want %s", tc.tail, tc.done, tc.total, tc.j.def.hasAutoIncrement(), got, tc.want)
		}
	}
}
