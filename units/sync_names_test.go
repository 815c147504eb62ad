package units

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/mariadbtest"
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
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	var tables [][2]string
	for _, db := range []string{"lower_db", "CaseDB", "casedb"} {
		syExec(t, p.srcDB, "CREATE DATABASE "+QuoteIdent(db))
		for _, tb := range []string{"Upper_Table", "upper_table"} {
			q := quoteTable(db, tb)
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
	t.Run("hostileUnderWrites", func(t *testing.T) { testHostileNamesUnderWrites(t, p) })
}

// TestSyncNameCaseFolded: a source with lower_case_table_names=1 stores
// names in lower case; the filter and routes, written in any case, match
// them, and DDL that spells names in another case reaches the right
// tables of a target with lower_case_table_names=0.
func TestSyncNameCaseFolded(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := &syPair{src: syServer(t, mariadbtest.Options{Extra: []string{"lower_case_table_names=1"}}),
		dst: syServer(t, mariadbtest.Options{NoBinlog: true})}
	var err error
	if p.srcDB, err = p.src.DB(""); err != nil {
		t.Fatal(err)
	}
	if p.dstDB, err = p.dst.DB(""); err != nil {
		t.Fatal(err)
	}
	syExec(t, p.srcDB, "CREATE DATABASE Shop",
		"CREATE TABLE Shop.Orders (id INT PRIMARY KEY, v INT NOT NULL)",
		"CREATE TABLE Shop.Items (id INT PRIMARY KEY, v INT NOT NULL)",
		"INSERT INTO Shop.Orders SELECT seq, seq FROM shop.seq_1_to_500",
		"INSERT INTO SHOP.ITEMS SELECT seq, seq FROM shop.seq_1_to_500")
	cfg := p.config("folded", ModeAll, []string{"Shop.*", "!SHOP.Tmp*"}, Route{From: "SHOP.ITEMS", To: "Shop2.Items"})
	r := syStart(t, cfg, syLog(t))
	syWaitCaughtUp(t, p, r, 60*time.Second) // loaded: what follows is synced
	syExec(t, p.srcDB, "INSERT INTO SHOP.Orders VALUES (1000, 1)", "UPDATE shop.ITEMS SET v = v + 1 WHERE id < 100",
		"ALTER TABLE Shop.ORDERS ADD COLUMN note VARCHAR(10) NULL", "UPDATE Shop.Orders SET note = 'x' WHERE id < 10",
		"CREATE TABLE Shop.NewOne (id INT PRIMARY KEY)", "INSERT INTO shop.newone VALUES (1), (2)",
		"CREATE TABLE Shop.TmpX (id INT PRIMARY KEY)", "INSERT INTO shop.tmpx VALUES (1)",
		"ALTER TABLE SHOP.Items ADD COLUMN note INT NULL", "UPDATE Shop.Items SET note = 5 WHERE id < 10")
	syWaitCaughtUp(t, p, r, 60*time.Second)
	syChecksumsEqual(t, p, 30*time.Second, [2]string{"shop.orders", "shop.orders"}, [2]string{"shop.newone", "shop.newone"},
		[2]string{"Shop2.Items", "shop.items"})
	var n int
	if err := p.dstDB.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = 'tmpx'").Scan(&n); err != nil || n != 0 {
		t.Errorf("the excluded table reached the target (%d, %v)", n, err)
	}
	if err := r.stop(t); err != context.Canceled {
		t.Fatalf("Run returned %v", err)
	}
}

// testHostileNamesUnderWrites (TestSyncNameCase/hostileUnderWrites, on
// its servers): databases, tables and columns whose names need quoting —
// backticks, quotes, spaces, unicode, reserved words, mixed case, 64
// characters — copied (mode all) and synced while writers change every
// table, with DDL on them meanwhile (a column added, a table created):
// every table ends with the source's checksum.
func testHostileNamesUnderWrites(t *testing.T, p *syPair) {
	long := "d" + strings.Repeat("x", 62) + "9" // 64 characters
	layout := []struct {
		db     string
		tables []string
	}{
		{"we`ird db", []string{"ta`ble", "order"}},
		{`Sch'ema "q"`, []string{`quote'd "t"`, "with space"}},
		{"ünï 表", []string{"Ünïcödé", "MixedCase"}},
		{"select", []string{"from"}},
		{long, []string{"t" + strings.Repeat("y", 62) + "9"}},
	}
	const cols = "(`i``d`, `v a l`, `ключ`, `select`)"
	var tables []string // quoted db.table
	var filter []string
	for _, l := range layout {
		syExec(t, p.srcDB, "CREATE DATABASE "+QuoteIdent(l.db))
		filter = append(filter, QuoteIdent(l.db)+".*")
		for _, tb := range l.tables {
			q := quoteTable(l.db, tb)
			syExec(t, p.srcDB, "CREATE TABLE "+q+" (`i``d` INT PRIMARY KEY, `v a l` INT NOT NULL, `ключ` VARCHAR(20), `select` INT NULL)",
				"INSERT INTO "+q+" "+cols+" SELECT seq, seq, CONCAT('ä', seq), NULL FROM mysql.seq_1_to_2000")
			tables = append(tables, q)
		}
	}
	var mu sync.Mutex // guards tables
	pick := func(rng *rand.Rand) string {
		mu.Lock()
		defer mu.Unlock()
		return tables[rng.IntN(len(tables))]
	}
	stop := syRandomWrites(3, func(ctx context.Context, rng *rand.Rand) {
		q, id := pick(rng), 1+rng.IntN(2500)
		switch rng.IntN(3) {
		case 0:
			p.srcDB.ExecContext(ctx, "REPLACE INTO "+q+" "+cols+" VALUES (?, ?, 'wé', ?)", id, rng.IntN(1000), rng.IntN(9))
		case 1:
			p.srcDB.ExecContext(ctx, "UPDATE "+q+" SET `v a l` = `v a l` + 1, `select` = ? WHERE `i``d` = ?", rng.IntN(9), id)
		default:
			p.srcDB.ExecContext(ctx, "DELETE FROM "+q+" WHERE `i``d` = ?", id)
		}
		time.Sleep(time.Millisecond)
	})
	defer stop()
	r := syStart(t, p.config("hostile", ModeAll, filter), syLog(t))
	syWaitCaughtUp(t, p, r, 90*time.Second) // copied; what follows is synced
	added := quoteTable(layout[1].db, "new `one` ü")
	syExec(t, p.srcDB, "ALTER TABLE "+tables[0]+" ADD COLUMN `nëw ``col` INT NULL",
		"UPDATE "+tables[0]+" SET `nëw ``col` = `i``d` WHERE `i``d` < 100",
		"CREATE TABLE "+added+" (`i``d` INT PRIMARY KEY, `v a l` INT NOT NULL, `ключ` VARCHAR(20), `select` INT NULL)")
	mu.Lock()
	tables = append(tables, added)
	mu.Unlock()
	time.Sleep(2 * time.Second) // writes and the DDL flow through sync
	stop()
	syWaitCaughtUp(t, p, r, 90*time.Second)
	var pairs [][2]string
	for _, q := range tables {
		pairs = append(pairs, [2]string{q, q})
	}
	syChecksumsEqual(t, p, 30*time.Second, pairs...)
	if err := r.stop(t); err != context.Canceled {
		t.Fatalf("Run returned %v", err)
	}
	t.Logf("%d tables with hostile names equal after copy and sync under writes", len(pairs))
}
