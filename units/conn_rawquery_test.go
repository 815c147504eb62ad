package units

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"
)

// TestRawQuery: the chunk queries a reader runs below the driver give the
// rows the driver path gives, byte for byte, for every column type, a
// value past the read buffer and keys that need escaping; a query stopped
// early, a server error and NO_BACKSLASH_ESCAPES leave the connection
// usable; a cancelled query gives the connection up.
func TestRawQuery(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newDLPair(t)
	dlTypesSource(t, p.srcDB)
	dlExec(t, p.srcDB, "INSERT INTO types.t (id, lb) VALUES (8, REPEAT(x'5c27', 300000))", // 600 KB: past the 128 KiB buffer
		"CREATE TABLE types.k (s VARCHAR(20), b VARBINARY(20), PRIMARY KEY (s, b))",
		`INSERT INTO types.k VALUES ('a''b', x'00'), ('a\\b', x'275c'), ('a"b?', x'ff'), ('z', x'')`)
	ctx := context.Background()
	db, raws, err := openDumpSource(dlEndpoint(p.src), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A connection the pool dialled before (idle, as the one that read
	// lower_case_table_names is when the snapshot starts) is found too.
	if err := db.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	conn, rq, err := dumpConn(ctx, db, raws)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if rq == nil || rq.noBackslash {
		t.Fatalf("raw querier for a connection without TLS: %+v", rq)
	}
	raw, viaDriver := &reader{conn: conn, raw: rq}, &reader{conn: conn}
	rows := func(r *reader, q string, args ...any) ([][]string, error) {
		var out [][]string
		err := r.queryRows(ctx, q, args, func(vals [][]byte) (bool, error) {
			row := make([]string, len(vals))
			for i, v := range vals {
				if v == nil {
					row[i] = "<NULL>"
				} else {
					row[i] = fmt.Sprintf("%q", v)
				}
			}
			out = append(out, row)
			return true, nil
		})
		return out, err
	}
	same := func(q string, args ...any) {
		t.Helper()
		want, err := rows(viaDriver, q, args...)
		if err != nil {
			t.Fatalf("%s through the driver: %v", q, err)
		}
		got, err := rows(raw, q, args...)
		if err != nil {
			t.Fatalf("%s raw: %v", q, err)
		}
		if len(want) == 0 {
			t.Fatalf("%s: no rows to compare", q)
		}
		// The driver hands DOUBLE columns over parsed and the reader prints
		// them with Go's strconv (1e+300); raw they are the server's text
		// (1e300): the same value.
		sameFloat := cmp.Comparer(func(a, b string) bool {
			if a == b {
				return true
			}
			x, errA := strconv.ParseFloat(strings.Trim(a, `"`), 64)
			y, errB := strconv.ParseFloat(strings.Trim(b, `"`), 64)
			return errA == nil && errB == nil && math.Float64bits(x) == math.Float64bits(y)
		})
		if d := cmp.Diff(want, got, sameFloat); d != "" {
			t.Errorf("%s: raw rows differ from the driver's (-driver +raw):\n%s", q, d)
		}
	}
	j := newTableJob(mustReadTable(t, p.srcDB, "types", "t"), tableRef{"x", "t"}, "mariadb")
	same(j.selectSQL + " ORDER BY id")
	same("SELECT id FROM types.t WHERE id > ? ORDER BY id", "3")
	k := newTableJob(mustReadTable(t, p.srcDB, "types", "k"), tableRef{"x", "k"}, "mariadb")
	for _, lo := range [][]any{{"a'b", []byte{0}}, {`a\b`, []byte(`'\`)}, {`a"b?`, []byte{0xff}}} {
		where, args := k.rangeWhere(lo, nil)
		same(k.selectSQL+where+k.orderBy, args...)
	}
	// An empty result, then a query stopped after its first row: the
	// connection goes on with the next query.
	if got, err := rows(raw, "SELECT id FROM types.t WHERE id > 100"); err != nil || len(got) != 0 {
		t.Fatalf("empty result: %v, %v", got, err)
	}
	n := 0
	if err := raw.queryRows(ctx, "SELECT id, lb FROM types.t ORDER BY id", nil, func([][]byte) (bool, error) { n++; return false, nil }); err != nil || n != 1 {
		t.Fatalf("stopped early: %d rows, %v", n, err)
	}
	same("SELECT id FROM types.t ORDER BY id")
	// A server error, before the rows or after some, is the driver's
	// error type, and not transient; the connection stays.
	_, err = rows(raw, "SELECT * FROM types.nope")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1146 || isTransient(err) {
		t.Fatalf("missing table: %v", err)
	}
	got, err := rows(raw, "SELECT id, IF(id < 5, id, (SELECT id FROM types.t)) FROM types.t ORDER BY id")
	if !errors.As(err, &me) || me.Number != 1242 || len(got) != 4 {
		t.Fatalf("error after 4 rows: %d rows, %v", len(got), err)
	}
	same("SELECT id FROM types.t ORDER BY id")
	// Under NO_BACKSLASH_ESCAPES (found in the session's sql_mode) quotes
	// are doubled, as the driver does.
	dlExec(t, p.srcDB, "SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',NO_BACKSLASH_ESCAPES')")
	nb, nbRaws, err := openDumpSource(dlEndpoint(p.src), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer nb.Close()
	nbConn, nbq, err := dumpConn(ctx, nb, nbRaws)
	dlExec(t, p.srcDB, "SET GLOBAL sql_mode = REPLACE(@@GLOBAL.sql_mode, ',NO_BACKSLASH_ESCAPES', '')")
	if err != nil || nbq == nil || !nbq.noBackslash {
		t.Fatalf("raw querier under NO_BACKSLASH_ESCAPES: %+v, %v", nbq, err)
	}
	defer nbConn.Close()
	for _, lo := range [][]any{{"a'b", []byte{0}}, {`a\b`, []byte(`'\`)}, {`a"b?`, []byte{0xff}}} {
		where, args := k.rangeWhere(lo, nil)
		q := k.selectSQL + where + k.orderBy
		want, err := rows(viaDriver, q, args...)
		if err != nil {
			t.Fatal(err)
		}
		got, err := rows(&reader{conn: nbConn, raw: nbq}, q, args...)
		if err != nil || !cmp.Equal(want, got) {
			t.Errorf("NO_BACKSLASH_ESCAPES, keys after %q: raw %v (%v), driver %v", lo, got, err, want)
		}
	}
	// A query cancelled while it runs gives the connection up (the driver
	// does too).
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	err = raw.queryRows(cctx, "SELECT SLEEP(5)", nil, func([][]byte) (bool, error) { return true, nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled: %v", err)
	}
	if _, err := conn.ExecContext(ctx, "SELECT 1"); err == nil {
		t.Error("the connection of a cancelled raw query is still in use")
	}

	// A row past one packet (2^24-1 bytes) comes in pieces.
	dlExec(t, p.srcDB, "SET GLOBAL max_allowed_packet = 64 << 20")
	big, bigRaws, err := openDumpSource(dlEndpoint(p.src), 3) // new connections see the new limit
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	if _, err := big.ExecContext(ctx, "INSERT INTO types.t (id, lb, tx) VALUES (9, REPEAT(x'01ff', 9 << 20), 'after')"); err != nil {
		t.Fatal(err)
	}
	bconn, brq, err := dumpConn(ctx, big, bigRaws)
	if err != nil || brq == nil {
		t.Fatalf("raw connection: %v, %v", brq, err)
	}
	defer bconn.Close()
	var lens []int
	var after string
	err = (&reader{conn: bconn, raw: brq}).queryRows(ctx, "SELECT id, lb, tx FROM types.t WHERE id >= 8 ORDER BY id", nil, func(vals [][]byte) (bool, error) {
		lens = append(lens, len(vals[1]))
		after = string(vals[2])
		if len(vals[1]) > 1<<24 && !bytes.Equal(vals[1], bytes.Repeat([]byte{1, 0xff}, 9<<20)) {
			t.Error("the value past a packet is not the one inserted")
		}
		return true, nil
	})
	if err != nil || !slices.Equal(lens, []int{600000, 18 << 20}) || after != "after" {
		t.Fatalf("rows past a packet: lengths %v, last value %q, %v", lens, after, err)
	}
}

func mustReadTable(t *testing.T, db querier, schema, name string) *Table {
	t.Helper()
	def, err := readTable(context.Background(), db, schema, name)
	if err != nil {
		t.Fatal(err)
	}
	return def
}
