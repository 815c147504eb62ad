package verify

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/dmplan/dmplan/internal/mariadbtest"
	"github.com/dmplan/dmplan/units"
)

// One source and one target for the package; each test uses its own
// databases and task name.
var source, target *mariadbtest.Server

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if !mariadbtest.Available() {
		if os.Getenv("DMPLAN_SKIP_MARIADB") == "1" {
			return m.Run() // the tests that need MariaDB skip themselves
		}
		fmt.Fprintln(os.Stderr, "verify: mariadbd not found: install Debian's mariadb-server (scripts/test.sh does), or set DMPLAN_SKIP_MARIADB=1")
		return 1
	}
	dir, err := os.MkdirTemp("", "dmplan-verify-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if source, err = mariadbtest.Start(ctx, filepath.Join(dir, "source"), mariadbtest.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer source.Stop()
	if target, err = mariadbtest.Start(ctx, filepath.Join(dir, "target"), mariadbtest.Options{NoBinlog: true}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer target.Stop()
	return m.Run()
}

func needServers(t *testing.T) {
	t.Helper()
	if source == nil {
		t.Skip("MariaDB not installed and DMPLAN_SKIP_MARIADB=1")
	}
}

func endpoint(s *mariadbtest.Server) units.Endpoint {
	return units.Endpoint{Host: "127.0.0.1", Port: s.Port, User: "root"}
}

func open(t *testing.T, s *mariadbtest.Server) *sql.DB {
	t.Helper()
	db, err := s.DB("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// fullCopy runs a mode-full subtask (dump and load) from the source to
// the target, the way an agent would, and returns its verify.Subtask.
func fullCopy(t *testing.T, task string, tables []string, routes []units.Route) Subtask {
	t.Helper()
	tgt := open(t, target)
	if err := units.ResetDumpLoad(context.Background(), tgt, task, "src"); err != nil {
		t.Fatal(err)
	}
	cfg := units.Config{Task: task, Source: "src", Mode: units.ModeFull, From: endpoint(source), To: endpoint(target),
		Flavor: "mariadb", Tables: tables, Routes: routes}
	if _, err := units.DumpLoad(context.Background(), cfg, nil, nil); err != nil {
		t.Fatal(err)
	}
	return Subtask{Task: task, Source: "src", Mode: units.ModeFull, From: cfg.From, To: cfg.To, Flavor: "mariadb",
		Tables: tables, Routes: routes}
}

func runVerify(t *testing.T, opts Options) *Report {
	t.Helper()
	rep, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func table(t *testing.T, rep *Report, name string) TableResult {
	t.Helper()
	for _, tr := range rep.Tables {
		if tr.Table == name {
			return tr
		}
	}
	t.Fatalf("no table %s in the report", name)
	return TableResult{}
}

func text(rep *Report) string {
	var b bytes.Buffer
	RenderText(&b, rep)
	return b.String()
}

// typed holds a column of every kind whose exact comparison is subtle.
var typed = []string{
	"DROP DATABASE IF EXISTS vt", "CREATE DATABASE vt",
	`CREATE TABLE vt.typed (id INT PRIMARY KEY, d DECIMAL(20,6), f FLOAT, g DOUBLE, j JSON, b VARBINARY(16), bl BLOB,
		t DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME(4), bt BIT(10), e ENUM('x','y'), s SET('p','q'), l VARCHAR(20) CHARACTER SET latin1,
		ci VARCHAR(20) COLLATE utf8mb4_general_ci, n VARCHAR(10) NULL, gen INT AS (id * 2) VIRTUAL)`,
	`INSERT INTO vt.typed (id, d, f, g, j, b, bl, t, ts, tm, bt, e, s, l, ci, n) SELECT seq, seq / 7, seq / 3, seq / 9,
		JSON_OBJECT('k', seq), UNHEX(LPAD(HEX(seq), 4, '0')), REPEAT(0x00, seq % 5), '2026-01-02 03:04:05' + INTERVAL seq MICROSECOND,
		'2026-01-02 03:04:05.123', '-01:02:03.4567', seq, IF(seq % 2, 'x', 'y'), 'p,q', 'zoë', IF(seq % 3, 'abc', 'ABC'),
		IF(seq % 4, NULL, '') FROM mysql.seq_1_to_300`,
	"CREATE TABLE vt.strkey (k VARCHAR(10) COLLATE utf8mb4_general_ci PRIMARY KEY, v INT)",
	"INSERT INTO vt.strkey SELECT CONCAT(IF(seq % 2, 'a', 'B'), seq), seq FROM mysql.seq_1_to_250",
	"CREATE TABLE vt.comp (k VARBINARY(4), n INT, v INT, PRIMARY KEY (k, n))",
	"INSERT INTO vt.comp SELECT UNHEX(LPAD(HEX(seq % 5), 2, '0')), seq, seq FROM mysql.seq_1_to_120",
	"CREATE TABLE vt.nokey (a INT, b VARCHAR(10))",
	"INSERT INTO vt.nokey SELECT seq % 7, 'dup' FROM mysql.seq_1_to_100", // equal rows repeat
	"CREATE TABLE vt.empty (id INT PRIMARY KEY)",
}

func TestEqualThenEveryDifference(t *testing.T) {
	needServers(t)
	src, tgt := open(t, source), open(t, target)
	exec(t, tgt, "DROP DATABASE IF EXISTS vt")
	exec(t, src, typed...)
	sub := fullCopy(t, "vt-types", []string{"vt.*"}, nil)
	opts := Options{Subtasks: []Subtask{sub}, ChunkRows: 50}

	rep := runVerify(t, opts)
	if rep.Outcome() != 0 {
		t.Fatalf("a fresh copy differs:\n%s", text(rep))
	}
	if got := table(t, rep, "vt.typed"); got.Chunks < 5 || got.Keyless {
		t.Fatalf("vt.typed: want several keyed chunks, got %+v", got)
	}
	if !table(t, rep, "vt.nokey").Keyless {
		t.Fatal("vt.nokey: want flagged keyless")
	}
	if rep.Rows != 300+250+120+100 {
		t.Fatalf("rows compared = %d, want 770", rep.Rows)
	}

	// One difference per subtle kind, each a different row.
	exec(t, tgt,
		"UPDATE vt.typed SET d = d + 0.000001 WHERE id = 10",
		"UPDATE vt.typed SET f = f + 0.000001 WHERE id = 11",    // below the 6 digits FLOAT prints
		"UPDATE vt.typed SET g = g + 1e-15 WHERE id = 12",       // last digits of a DOUBLE
		`UPDATE vt.typed SET j = '{"k":13}' WHERE id = 13`,      // JSON text without the space
		"UPDATE vt.typed SET b = CONCAT(b, 0x00) WHERE id = 14", // a trailing zero byte
		"UPDATE vt.typed SET t = t + INTERVAL 1 MICROSECOND WHERE id = 15",
		"UPDATE vt.typed SET ts = '2026-01-02 03:04:05.124' WHERE id = 16",
		"UPDATE vt.typed SET bt = bt + 512 WHERE id = 17",
		"UPDATE vt.typed SET ci = 'ABC' WHERE id = 19",    // equal under the collation, not the same value
		"UPDATE vt.typed SET n = '' WHERE id = 21",        // NULL -> empty string
		"UPDATE vt.typed SET n = NULL WHERE id = 24",      // empty string -> NULL
		"UPDATE vt.typed SET bl = 0x000000 WHERE id = 22", // one more zero byte
		"DELETE FROM vt.typed WHERE id = 100",
		"INSERT INTO vt.typed (id) VALUES (1000)",
		"DELETE FROM vt.strkey WHERE k = 'a101'",
		// Two rows swap a value: under BIT_XOR of plain CRCs (XOR-linear)
		// they would cancel out.
		"UPDATE vt.strkey SET v = IF(k = 'a3', 5, 3) WHERE k IN ('a3', 'a5')",
		"UPDATE vt.comp SET v = -1 WHERE k = 0x03 AND n = 8",
		"DELETE FROM vt.nokey WHERE a = 3 LIMIT 1", // one of several equal rows
	)
	var fix bytes.Buffer
	opts.FixSQL = &fix
	rep = runVerify(t, opts)
	if rep.Outcome() != 2 {
		t.Fatalf("outcome %d, want 2:\n%s", rep.Outcome(), text(rep))
	}
	typedRes := table(t, rep, "vt.typed")
	want := map[string]string{
		"id=10": "changed d", "id=11": "changed f", "id=12": "changed g", "id=13": "changed j", "id=14": "changed b",
		"id=15": "changed t", "id=16": "changed ts", "id=17": "changed bt", "id=19": "changed ci", "id=21": "changed n",
		"id=24": "changed n", "id=22": "changed bl", "id=100": "missing ", "id=1000": "extra ",
	}
	got := map[string]string{}
	for _, d := range typedRes.Rows {
		got[strings.Join(d.Key, ",")] = string(d.Kind) + " " + strings.Join(d.Columns, ",")
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("vt.typed %s: got %q, want %q", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("vt.typed: %d rows reported, want %d:\n%s", len(got), len(want), text(rep))
	}
	if r := table(t, rep, "vt.strkey"); r.Missing != 1 || r.Changed != 2 || len(r.Rows) != 3 {
		t.Errorf("vt.strkey: %+v", r)
	}
	if r := table(t, rep, "vt.comp"); r.Changed != 1 || strings.Join(r.Rows[0].Key, ",") != "k=0x03,n=8" {
		t.Errorf("vt.comp: %+v", r)
	}
	if r := table(t, rep, "vt.nokey"); r.Missing != 1 || r.Extra != 0 {
		t.Errorf("vt.nokey: %+v", r)
	}
	if r := table(t, rep, "vt.empty"); r.Status != StatusEqual {
		t.Errorf("vt.empty: %+v", r)
	}

	// The fix SQL makes the target equal again.
	for _, stmt := range strings.Split(fix.String(), ";\n") {
		if stmt = strings.TrimSpace(stmt); stmt == "" || strings.HasPrefix(stmt, "--") {
			continue
		}
		stmt = strings.TrimSpace(stmt[strings.LastIndex(stmt, "\n")+1:]) // drop comment lines
		if _, err := tgt.Exec(stmt); err != nil {
			t.Fatalf("fix SQL %q: %v\n%s", stmt, err, fix.String())
		}
	}
	opts.FixSQL = nil
	if rep = runVerify(t, opts); rep.Outcome() != 0 {
		t.Fatalf("after the fix SQL:\n%s\nfix SQL:\n%s", text(rep), fix.String())
	}
}

func TestMergedShardsAndNormalisedTypes(t *testing.T) {
	needServers(t)
	src, tgt := open(t, source), open(t, target)
	exec(t, tgt, "DROP DATABASE IF EXISTS vm", "DROP DATABASE IF EXISTS vm_all")
	exec(t, src, "DROP DATABASE IF EXISTS vm", "CREATE DATABASE vm",
		"CREATE TABLE vm.orders_1 (id BIGINT UNSIGNED PRIMARY KEY, amount DECIMAL(12,2), at DATETIME(3), note VARCHAR(20) CHARACTER SET latin1)",
		"CREATE TABLE vm.orders_2 LIKE vm.orders_1",
		"INSERT INTO vm.orders_1 SELECT seq, seq / 4, '2026-01-01' + INTERVAL seq SECOND, 'café' FROM mysql.seq_1_to_200",
		"INSERT INTO vm.orders_2 SELECT 18446744073709551000 + seq, seq / 4, '2026-01-01', 'über' FROM mysql.seq_1_to_200",
	)
	// The target defines the merged table more widely: values are equal,
	// their text is not.
	exec(t, tgt, "CREATE DATABASE vm_all",
		"CREATE TABLE vm_all.orders (id BIGINT UNSIGNED PRIMARY KEY, amount DECIMAL(14,4), at DATETIME(6), note VARCHAR(20) CHARACTER SET utf8mb4)")
	routes := []units.Route{{From: "vm.orders_*", To: "vm_all.orders"}}
	sub := fullCopy(t, "vt-merge", []string{"vm.*"}, routes)
	opts := Options{Subtasks: []Subtask{sub}, ChunkRows: 64}
	var rep *Report
	for _, h := range []Hash{HashCRC64, HashMD5, HashCRC32C} {
		opts.Hash = h
		if rep = runVerify(t, opts); rep.Outcome() != 0 || len(rep.Tables) != 1 {
			t.Fatalf("merged copy, hash %s:\n%s", h, text(rep))
		}
	}
	if r := table(t, rep, "vm_all.orders"); len(r.Sources) != 2 || rep.Rows != 400 {
		t.Fatalf("merged table: %+v, rows %d", r, rep.Rows)
	}
	exec(t, tgt, "DELETE FROM vm_all.orders WHERE id = 18446744073709551100", "UPDATE vm_all.orders SET amount = 0.0001 WHERE id = 3")
	rep = runVerify(t, opts)
	r := table(t, rep, "vm_all.orders")
	if r.Missing != 1 || r.Changed != 1 || r.Rows[0].Source == "" {
		t.Fatalf("merged table after changes:\n%s", text(rep))
	}
	for _, d := range r.Rows {
		if d.Kind == KindMissing && d.Source != "src:vm.orders_2" {
			t.Errorf("missing row from %q, want src:vm.orders_2", d.Source)
		}
	}

	// --tables and --source narrow the comparison.
	opts.Tables = []string{"nothing.*"}
	if rep = runVerify(t, opts); len(rep.Tables) != 0 {
		t.Fatalf("--tables nothing.*: %s", text(rep))
	}
	opts.Tables, opts.Source = []string{"vm.orders_1"}, "src"
	if rep = runVerify(t, opts); len(rep.Tables) != 1 {
		t.Fatalf("--tables vm.orders_1: %s", text(rep))
	}
	opts.Source = "other"
	if _, err := Run(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "no such source") {
		t.Fatalf("--source other: %v", err)
	}
}

func TestNotComparableYet(t *testing.T) {
	needServers(t)
	tgt := open(t, target)
	if err := units.ResetDumpLoad(context.Background(), tgt, "vt-none", "src"); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), Options{Subtasks: []Subtask{{Task: "vt-none", Source: "src", Mode: units.ModeAll,
		From: endpoint(source), To: endpoint(target), Tables: []string{"*.*"}}}})
	if err == nil || !strings.Contains(err.Error(), "not syncing yet") {
		t.Fatalf("want a not-syncing error, got %v", err)
	}
}
