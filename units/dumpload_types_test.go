package units

import (
	"context"
	"database/sql"
	"strings"
	"testing"
)

// dlTypesDDL is a table with every common column type.
const dlTypesDDL = "CREATE TABLE types.t (" +
	"id INT PRIMARY KEY, " +
	"ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED, " +
	"dec1 DECIMAL(65,30), dec2 DECIMAL(10,2) UNSIGNED, " +
	"f FLOAT, d DOUBLE, f2 FLOAT(7,3), " +
	"dt DATE, tm TIME(6), dtm DATETIME(6), dtm0 DATETIME, ts TIMESTAMP(6) NULL DEFAULT NULL, yr YEAR, " +
	"c CHAR(10), vc VARCHAR(300), tx TEXT, lt LONGTEXT, lat VARCHAR(20) CHARACTER SET latin1, " +
	"bn BINARY(4), vb VARBINARY(300), bl BLOB, lb LONGBLOB, " +
	"e ENUM('a','b','c d'), s SET('x','y','z'), b1 BIT(1), b12 BIT(12), b64 BIT(64), j JSON, g POINT NULL, " +
	"u UUID, ip INET6, " +
	"gen BIGINT AS (i * 2) VIRTUAL, gens VARCHAR(40) AS (CONCAT(e, '!')) STORED)"

var dlTypesRows = []string{
	// minimums and empties
	`INSERT INTO types.t (id, ti, tiu, si, mi, i, iu, bi, biu, dec1, dec2, f, d, f2, dt, tm, dtm, dtm0, ts, yr,
		c, vc, tx, lt, lat, bn, vb, bl, lb, e, s, b1, b12, b64, j, g, u, ip) VALUES
		(1, -128, 0, -32768, 0, -2147483648, 0, -9223372036854775808, 0,
		'-99999999999999999999999999999999999.999999999999999999999999999999', 0.00,
		-3.4028234e38, -1.7976931348623157e308, -9999.999,
		'1000-01-01', '-838:59:59.000000', '1000-01-01 00:00:00.000000', '1000-01-01 00:00:00', '1970-01-01 00:00:01.000000', 1901,
		'', '', '', '', '', x'00000000', x'', x'', x'', 'a', '', 0, 0, 0, '[]', POINT(0, 0),
		'00000000-0000-0000-0000-000000000000', '::')`,
	// maximums, awkward bytes
	`INSERT INTO types.t (id, ti, tiu, si, mi, i, iu, bi, biu, dec1, dec2, f, d, f2, dt, tm, dtm, dtm0, ts, yr,
		c, vc, tx, lt, lat, bn, vb, bl, lb, e, s, b1, b12, b64, j, g, u, ip) VALUES
		(2, 127, 255, 32767, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615,
		'99999999999999999999999999999999999.999999999999999999999999999999', 99999999.99,
		3.4028234e38, 1.7976931348623157e308, 9999.999,
		'9999-12-31', '838:59:59.000000', '9999-12-31 23:59:59.999999', '9999-12-31 23:59:59', '2038-01-19 03:14:07.999999', 2155,
		'tab	nl\n', 'back\\slash ''q'' "d" \0 nul \Z ctrl \\N \r cr', 'héllo wörld 😀 日本語', REPEAT('long ', 20000), 'café',
		x'00ff0a09', x'000102030405060708090a0b0c0d0e0f5c4e0d1a27', x'ffffffff5c5c', REPEAT(x'00ff', 50000),
		'c d', 'x,y,z', 1, b'111111111111', 18446744073709551615, '{"k": [1, 2.5, "s\\"q", null, true], "é": {}}',
		ST_GeomFromText('POINT(1.5 -2.25)'), 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'ffff::1')`,
	// NULLs everywhere they are allowed
	`INSERT INTO types.t (id) VALUES (3)`,
	// awkward floats, zero dates, the text "NULL" and "\N"
	`INSERT INTO types.t (id, f, d, f2, dt, dtm, dtm0, ts, c, vc, tx, e, s, b1, b64) VALUES
		(4, 1.2345678, 0.1e0 + 0.2e0, 1.5, '0000-00-00', '0000-00-00 00:00:00.000000', '0000-00-00 00:00:00', '0000-00-00 00:00:00',
		'NULL', '\\N', 'N', 'b', 'y', 0, 1)`,
	`INSERT INTO types.t (id, f, d) VALUES (5, 1e-45, 5e-324), (6, 0.1, 1e300), (7, -0.0, 123456789012345678)`,
}

// dlTypesSource creates types.t on db with dlTypesRows.
func dlTypesSource(t testing.TB, db *sql.DB) {
	t.Helper()
	dlExec(t, db, "CREATE DATABASE types", dlTypesDDL)
	dlExec(t, db, dlTypesRows...)
}

// dlTypesCols compares FLOAT exactly (their text form is rounded).
const dlTypesCols = "*, CAST(f AS DOUBLE), CAST(f2 AS DOUBLE)"

func TestDumpLoadTypes(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newDLPair(t)
	dlTypesSource(t, p.srcDB)
	dlExec(t, p.srcDB, "CREATE TABLE types.ai (id INT AUTO_INCREMENT PRIMARY KEY, v INT)",
		"SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO'; INSERT INTO types.ai VALUES (0, 0), (5, 5)")
	// types.b: the columns LOAD DATA may read as binary (load_charset.go);
	// types.t has latin1, UUID and INET6 columns, so it is read as utf8mb4.
	dlExec(t, p.srcDB, "CREATE TABLE types.b (PRIMARY KEY (id)) SELECT id, ti, tiu, si, mi, i, iu, bi, biu, dec1, dec2, f, d, f2, "+
		"dt, tm, dtm, dtm0, ts, yr, c, vc, tx, lt, bn, vb, bl, lb, e, s, b1, b12, b64, j, g FROM types.t")
	want := dlRows(t, p.srcDB, "types.t", dlTypesCols)
	if len(want) != 7 {
		t.Fatalf("source has %d rows", len(want))
	}
	wantB := dlRows(t, p.srcDB, "types.b", dlTypesCols)
	for _, method := range []string{MethodLoadData, MethodInsert} {
		t.Run(method, func(t *testing.T) {
			db := "types_" + strings.ReplaceAll(method, "-", "_")
			cfg := p.config("types-"+method, []string{"types.*"},
				Route{From: "types.t", To: db + ".t"}, Route{From: "types.ai", To: db + ".ai"}, Route{From: "types.b", To: db + ".b"})
			dlRun(t, cfg, DumpLoadOptions{Method: method, ChunkRows: 2})
			got := dlRows(t, p.dstDB, db+".t", dlTypesCols)
			if len(got) != len(want) {
				t.Fatalf("target has %d rows, want %d", len(got), len(want))
			}
			for i := range want {
				dlDiffRow(t, i, want[i], got[i])
			}
			gotB := dlRows(t, p.dstDB, db+".b", dlTypesCols)
			if len(gotB) != len(wantB) {
				t.Fatalf("target has %d rows in b, want %d", len(gotB), len(wantB))
			}
			for i := range wantB {
				dlDiffRow(t, i, wantB[i], gotB[i])
			}
			if a, b := dlDigest(t, p.srcDB, "types.ai"), dlDigest(t, p.dstDB, db+".ai"); a != b {
				t.Errorf("types.ai: source %s, target %s", a, b)
			}
			var gen string
			if err := p.dstDB.QueryRow("SELECT CONCAT(gen, gens) FROM " + db + ".t WHERE id = 2").Scan(&gen); err != nil {
				t.Fatal(err)
			}
			if gen != "4294967294c d!" {
				t.Errorf("generated columns on the target: %q", gen)
			}
		})
	}
	// Which tables LOAD DATA reads as binary: the target's own
	// definitions decide, so a table created there beforehand in another
	// character set is read as utf8mb4 whatever the source's is.
	t.Run("charsets", func(t *testing.T) {
		dlExec(t, p.srcDB, "CREATE DATABASE types2",
			"CREATE TABLE types2.l1 (id INT PRIMARY KEY, v VARCHAR(10) CHARACTER SET latin1)",
			"CREATE TABLE types2.u (id INT PRIMARY KEY, u UUID)",
			"CREATE TABLE types2.l2 (id INT PRIMARY KEY, v VARCHAR(10))")
		dlExec(t, p.dstDB, "CREATE DATABASE types2",
			"CREATE TABLE types2.l1 (id INT PRIMARY KEY, v VARCHAR(10) CHARACTER SET utf8mb4)",
			"CREATE TABLE types2.u (id INT PRIMARY KEY, u CHAR(36) CHARACTER SET utf8mb4)",
			"CREATE TABLE types2.l2 (id INT PRIMARY KEY, v VARCHAR(10) CHARACTER SET latin1)")
		ctx := context.Background()
		want := map[tableRef]bool{
			{"types_load_data", "t"}: false, {"types_load_data", "b"}: true, {"types_load_data", "ai"}: true,
			{"types2", "l1"}: true, {"types2", "u"}: true, {"types2", "l2"}: false,
		}
		src := map[tableRef]tableRef{
			{"types_load_data", "t"}: {"types", "t"}, {"types_load_data", "b"}: {"types", "b"}, {"types_load_data", "ai"}: {"types", "ai"},
			{"types2", "l1"}: {"types2", "l1"}, {"types2", "u"}: {"types2", "u"}, {"types2", "l2"}: {"types2", "l2"},
		}
		var jobs []*tableJob
		for dst, from := range src {
			def, err := readTable(ctx, p.srcDB, from.Schema, from.Name)
			if err != nil {
				t.Fatal(err)
			}
			jobs = append(jobs, newTableJob(def, dst, "mariadb"))
		}
		if err := setLoadCharsets(ctx, p.dstDB, jobs); err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			if j.loadBinary != want[j.dst] {
				t.Errorf("%s: loadBinary %v, want %v", j.dst, j.loadBinary, want[j.dst])
			}
		}
	})
}

// dlDiffRow reports the columns where two rendered rows differ.
func dlDiffRow(t *testing.T, i int, want, got string) {
	t.Helper()
	w, g := strings.Split(want, "|"), strings.Split(got, "|")
	for c := range max(len(w), len(g)) {
		var a, b string
		if c < len(w) {
			a = w[c]
		}
		if c < len(g) {
			b = g[c]
		}
		if a != b {
			t.Errorf("row %d column %d differs: source %.80s, target %.80s", i, c+1, a, b)
		}
	}
}
