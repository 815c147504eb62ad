package units

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
)

// dlShapes creates tables of every shape dump must handle.
var dlShapes = []string{
	"CREATE DATABASE shop",
	"CREATE TABLE shop.orders (id INT PRIMARY KEY, note VARCHAR(20))",
	"INSERT INTO shop.orders SELECT seq, CONCAT('n', seq) FROM mysql.seq_1_to_100",
	"CREATE TABLE shop.`order` (`select` INT PRIMARY KEY, `from` VARCHAR(10))",
	"INSERT INTO shop.`order` SELECT seq, 'x' FROM mysql.seq_1_to_20",
	"CREATE TABLE shop.`we``ird ta``ble` (`i``d` INT PRIMARY KEY, `v a l` TEXT)",
	"INSERT INTO shop.`we``ird ta``ble` SELECT seq, REPEAT('`', seq) FROM mysql.seq_1_to_30",
	"CREATE TABLE shop.`ünïcode_表` (`ключ` VARCHAR(20) PRIMARY KEY, v INT)",
	"INSERT INTO shop.`ünïcode_表` SELECT CONCAT('ключ', seq), seq FROM mysql.seq_1_to_25",
	"CREATE TABLE shop.nokey (a INT, b VARCHAR(10))",
	"INSERT INTO shop.nokey SELECT seq % 7, 'dup' FROM mysql.seq_1_to_1000", // duplicates on purpose
	"CREATE TABLE shop.uniq (a INT NOT NULL, b INT, UNIQUE KEY ua (a))",
	"INSERT INTO shop.uniq SELECT seq * 3, seq FROM mysql.seq_1_to_50",
	"CREATE TABLE shop.uniq_null (a INT NULL, b INT, UNIQUE KEY ua (a))",
	"INSERT INTO shop.uniq_null SELECT IF(seq % 5 = 0, NULL, seq), seq FROM mysql.seq_1_to_50",
	"CREATE TABLE shop.comp (k VARCHAR(10), n INT, v INT, PRIMARY KEY (k, n))",
	"INSERT INTO shop.comp SELECT CONCAT('k', seq % 4), seq, seq FROM mysql.seq_1_to_60",
	// case-insensitive collation: keyset bounds must compare as the index orders
	"CREATE TABLE shop.strkey (k VARCHAR(10) COLLATE utf8mb4_general_ci PRIMARY KEY, v INT)",
	"INSERT INTO shop.strkey VALUES ('a', 1), ('B', 2), ('c', 3), ('D', 4), ('é', 5), ('f', 6), ('Z', 7), ('_', 8), (' x', 9), ('ß', 10)",
	"CREATE TABLE shop.binkey (k VARBINARY(8) PRIMARY KEY, v INT)",
	"INSERT INTO shop.binkey SELECT UNHEX(LPAD(HEX(seq * 37 % 256), 2, '0')), seq FROM mysql.seq_1_to_200 GROUP BY 1",
	"CREATE TABLE shop.dtkey (k DATETIME(6), n DECIMAL(10,3), v INT, PRIMARY KEY (k, n))",
	"INSERT INTO shop.dtkey SELECT '2024-01-01' + INTERVAL seq SECOND + INTERVAL seq MICROSECOND, seq / 8, seq FROM mysql.seq_1_to_40",
	"CREATE TABLE shop.floatkey (k DOUBLE PRIMARY KEY, v INT)", // not chunkable: one streamed chunk
	"INSERT INTO shop.floatkey SELECT seq / 3, seq FROM mysql.seq_1_to_30",
	"CREATE TABLE shop.genkey (a INT, g INT AS (a * 2) STORED, UNIQUE KEY (g))",
	"INSERT INTO shop.genkey (a) SELECT seq FROM mysql.seq_1_to_30",
	"CREATE TABLE shop.empty (id INT PRIMARY KEY)",
	"CREATE TABLE shop.tmp_x (id INT PRIMARY KEY)",
	"CREATE VIEW shop.v AS SELECT id FROM shop.orders",
	"CREATE DATABASE ignored",
	"CREATE TABLE ignored.t (id INT PRIMARY KEY)",
	// shards merged into one table
	"CREATE DATABASE shard_1", "CREATE DATABASE shard_2", "CREATE DATABASE shard_3",
	"CREATE TABLE shard_1.orders_1 (id BIGINT PRIMARY KEY, v VARCHAR(10))",
	"CREATE TABLE shard_2.orders_2 LIKE shard_1.orders_1",
	"CREATE TABLE shard_3.orders_3 LIKE shard_1.orders_1",
	"INSERT INTO shard_1.orders_1 SELECT seq, 's1' FROM mysql.seq_1_to_40",
	"INSERT INTO shard_2.orders_2 SELECT seq + 1000, 's2' FROM mysql.seq_1_to_40",
	"INSERT INTO shard_3.orders_3 SELECT seq + 2000, 's3' FROM mysql.seq_1_to_40",
}

var dlShapeTables = []string{"shop.orders", "shop.`order`", "shop.`we``ird ta``ble`", "shop.`ünïcode_表`", "shop.nokey",
	"shop.uniq", "shop.uniq_null", "shop.comp", "shop.strkey", "shop.binkey", "shop.dtkey", "shop.floatkey", "shop.genkey", "shop.empty"}

func TestDumpLoadShapes(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newDLPair(t)
	dlExec(t, p.srcDB, dlShapes...)
	cfg := p.config("shapes", []string{"shop.*", "!shop.tmp_*", "shard_*.*"},
		Route{From: "shard_*.orders_*", To: "merged.orders"})
	if err := precheck(context.Background(), cfg); err != nil {
		t.Fatalf("Precheck of a good pair: %v", err)
	}
	pos := dlRun(t, cfg, DumpLoadOptions{ChunkRows: 7})
	dlSame(t, p, dlShapeTables...)

	var shards []string
	for _, s := range []string{"shard_1.orders_1", "shard_2.orders_2", "shard_3.orders_3"} {
		shards = append(shards, dlRows(t, p.srcDB, s, "*")...)
	}
	slices.Sort(shards)
	if got := dlRows(t, p.dstDB, "merged.orders", "*"); !slices.Equal(got, shards) {
		t.Errorf("merged.orders has %d rows, want the %d rows of the shards", len(got), len(shards))
	}
	for _, gone := range []string{"shop.tmp_x", "shop.v", "ignored.t", "shard_1.orders_1"} {
		var n int
		p.dstDB.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) = ?", gone).Scan(&n)
		if n != 0 {
			t.Errorf("%s was copied; the filter excludes it", gone)
		}
	}
	// Every table comes from the one snapshot: no idempotent window.
	w, err := readLoadWindows(context.Background(), p.dstDB, "shapes", "src")
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Tables()) != len(dlShapeTables)+3 || w.Start != pos || w.Until != pos {
		t.Errorf("windows: %d tables, start %+v, until %+v; want %d tables at %+v", len(w.Tables()), w.Start, w.Until, len(dlShapeTables)+3, pos)
	}
	for _, tw := range w.Tables() {
		if tw.From != pos || tw.Until != pos {
			t.Errorf("window of %s.%s: %+v", tw.Schema, tw.Table, tw)
		}
	}
	// Running again is a no-op that returns the same position.
	if again := dlRun(t, cfg, DumpLoadOptions{}); again != pos {
		t.Errorf("second run returned %+v, want %+v", again, pos)
	}
	// After a reset the rows are still there: loading again collides,
	// and the error names the table.
	if err := ResetDumpLoad(context.Background(), p.dstDB, "shapes", "src"); err != nil {
		t.Fatal(err)
	}
	_, err = DumpLoadWith(context.Background(), cfg, DumpLoadOptions{}, nil, dlLog(t))
	if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "Duplicate entry") || !strings.Contains(err.Error(), "load `") {
		t.Errorf("loading into full tables: %v", err)
	}
	t.Logf("loading into full tables: %v", err)
}

func TestDumpLoadLarge(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newDLPair(t)
	dlExec(t, p.srcDB, "CREATE DATABASE big",
		"CREATE TABLE big.t (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL, KEY k (k))",
		"INSERT INTO big.t SELECT seq, seq * 7919 % 100000, SHA2(seq, 256), MD5(seq) FROM mysql.seq_1_to_200000",
		"CREATE TABLE big.nokey (a INT, b CHAR(60))",
		"INSERT INTO big.nokey SELECT seq % 1000, MD5(seq) FROM mysql.seq_1_to_50000")
	var mu sync.Mutex
	var progress []Progress
	cfg := p.config("large", []string{"big.*"})
	ctx := context.Background()
	if _, err := DumpLoadWith(ctx, cfg, DumpLoadOptions{ChunkBytes: 1 << 20}, ReporterFunc(func(pr Progress) { mu.Lock(); progress = append(progress, pr); mu.Unlock() }), dlLog(t)); err != nil {
		t.Fatal(err)
	}
	// Each table's digest on the source, read once for both copies.
	srcDigest := map[string]string{}
	for _, tb := range []string{"t", "nokey"} {
		srcDigest[tb] = dlDigest(t, p.srcDB, "big."+tb)
		if got := dlDigest(t, p.dstDB, "big."+tb); got != srcDigest[tb] {
			t.Errorf("big.%s: source %s, target %s", tb, srcDigest[tb], got)
		}
	}
	for _, tb := range []string{"big.t", "big.nokey"} {
		var sums [2]int64
		for i, db := range []*sql.DB{p.srcDB, p.dstDB} {
			var name string
			if err := db.QueryRow("CHECKSUM TABLE "+tb).Scan(&name, &sums[i]); err != nil {
				t.Fatal(err)
			}
		}
		if sums[0] != sums[1] {
			t.Errorf("CHECKSUM TABLE %s: source %d, target %d", tb, sums[0], sums[1])
		}
	}
	// The INSERT method, with the table without a key streamed too.
	cfgIns := p.config("large-insert", []string{"big.*"}, Route{From: "big.t", To: "big_i.t"}, Route{From: "big.nokey", To: "big_i.nokey"})
	dlRun(t, cfgIns, DumpLoadOptions{Method: MethodInsert, ChunkBytes: 1 << 20, PartBytes: 64 << 10})
	for _, tb := range []string{"t", "nokey"} {
		if a, b := srcDigest[tb], dlDigest(t, p.dstDB, "big_i."+tb); a != b {
			t.Errorf("big.%s with INSERTs: source %s, target %s", tb, a, b)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	last := progress[len(progress)-1]
	if last.Finished { // mode full: Finished follows the last load report
		last = progress[len(progress)-2]
	}
	if !progress[len(progress)-1].Finished {
		t.Errorf("mode full: the last report is not Finished: %+v", progress[len(progress)-1])
	}
	if last.Unit != "load" || last.TablesDone != 2 || last.TablesTotal != 2 || last.RowsDone != 250000 || last.Bytes == 0 {
		t.Errorf("last progress: %+v", last)
	}
}

// TestDumpLoadResumeReplace resumes a load interrupted after its first
// chunk, when a row of a later chunk has taken a unique value that a row
// of the first chunk held at the first snapshot.
func TestDumpLoadResumeReplace(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newDLPair(t)
	dlExec(t, p.srcDB, "CREATE DATABASE rep",
		"CREATE TABLE rep.t (id INT PRIMARY KEY, u VARCHAR(10) NOT NULL, UNIQUE KEY u (u))",
		"INSERT INTO rep.t SELECT seq, CONCAT('u', seq) FROM mysql.seq_1_to_10")
	cfg := p.config("replace", []string{"rep.*"})
	ctx, cancel := context.WithCancel(context.Background())
	opts := DumpLoadOptions{ChunkRows: 2, Loaders: 1, afterChunk: func(uint32, *tableJob) { cancel() }}
	if _, err := DumpLoadWith(ctx, cfg, opts, nil, dlLog(t)); !errors.Is(err, context.Canceled) {
		t.Fatalf("first attempt: %v", err)
	}
	dlExec(t, p.srcDB, "UPDATE rep.t SET u = 'moved' WHERE id = 1", "INSERT INTO rep.t VALUES (50, 'u1')")
	pos := dlRun(t, cfg, DumpLoadOptions{ChunkRows: 2})
	var n int
	p.dstDB.QueryRow("SELECT COUNT(*) FROM rep.t WHERE id = 1").Scan(&n)
	if n != 0 {
		t.Errorf("row 1 of the first snapshot is still there: REPLACE should have removed it")
	}
	w, err := readLoadWindows(context.Background(), p.dstDB, "replace", "src")
	if err != nil {
		t.Fatal(err)
	}
	tw := w.Tables()
	if len(tw) != 1 || ComparePositions(tw[0].From, tw[0].Until) >= 0 || w.Start != pos || tw[0].From != pos {
		t.Fatalf("windows %+v, start %+v; want one table with From = start < Until", tw, pos)
	}
	// The update and the insert lie inside the window: sync replays them
	// idempotently, here by hand.
	mid := Position{File: tw[0].Until.File, Pos: tw[0].Until.Pos - 1}
	if a := w.Decide("rep", "t", mid); a != eventIdempotent {
		t.Errorf("Decide inside the window = %v", a)
	}
	dlExec(t, p.dstDB, "DELETE FROM rep.t WHERE id = 1", "REPLACE INTO rep.t VALUES (1, 'moved')", "REPLACE INTO rep.t VALUES (50, 'u1')")
	dlSame(t, p, "rep.t")
}
