package units

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// syWaitValidated waits until the validator has nothing pending and has
// checked at least min rows, and returns its last report.
func syWaitValidated(t *testing.T, r *syRunning, min int64, timeout time.Duration) Validation {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		pr := r.last.Load()
		if pr != nil && pr.Validation != nil && pr.Validation.Pending == 0 && pr.Validation.Checked >= min {
			return *pr.Validation
		}
		if time.Now().After(deadline) {
			var v *Validation
			if pr != nil {
				v = pr.Validation
			}
			t.Fatalf("validation did not settle within %v (checked >= %d wanted): %+v", timeout, min, v)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// syWaitFailed waits until the validator reports want failed rows.
func syWaitFailed(t *testing.T, r *syRunning, want int64, timeout time.Duration) Validation {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if pr := r.last.Load(); pr != nil && pr.Validation != nil && pr.Validation.Failed == want && pr.Validation.Pending == 0 {
			return *pr.Validation
		}
		if time.Now().After(deadline) {
			pr := r.last.Load()
			t.Fatalf("validation did not report %d failed rows within %v: %+v", want, timeout, pr.Validation)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func rowKeys(v Validation) []string {
	var out []string
	for _, r := range v.Rows {
		out = append(out, r.Table+" "+r.Key+" "+r.Kind+" "+strings.Join(r.Columns, ","))
	}
	slices.Sort(out)
	return out
}

// TestSyncValidate: with validation on, sync reads the rows it applied
// back from the target. Under random writes (key changes, unique values
// moving between rows, a table without a key) and rows of many types, it
// reports nothing; a row changed or deleted on the target behind
// dmplan's back is reported with its table, key, what differs and the
// binlog position, kept in dmplan_meta.validation_error across restarts,
// and removed once the row validates again. Mode fast sees a missing row
// but not a changed column.
func TestSyncValidate(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	start := syAuditSetup(t, p)
	typed := "CREATE TABLE c.typed (id INT PRIMARY KEY, name VARCHAR(20), code CHAR(4), amount DECIMAL(10,2), " +
		"f FLOAT, d DOUBLE, ts DATETIME(3), stamp TIMESTAMP(6) NULL, e ENUM('x','y'), s SET('a','b','c'), " +
		"bits BIT(5), bin VARBINARY(8), fixed BINARY(4), u BIGINT UNSIGNED, j TEXT, l VARCHAR(10) CHARACTER SET latin1)"
	syExec(t, p.srcDB, typed)
	syCopySchema(t, p, "c", "typed")
	cfg := p.config("val", ModeIncremental, []string{"c.acct", "c.nokey", "c.uk", "c.typed"})
	cfg.Start = start
	cfg.Validate = "full"
	r := syStart(t, cfg, syLog(t))

	// No false report under writes.
	w := syStartWriter(t, p.srcDB, 1)
	syExec(t, p.srcDB,
		"INSERT INTO c.typed VALUES (1, 'Ann', 'ab  ', 1.50, 0.1, 0.1, '2024-01-02 03:04:05.500', '2024-01-02 03:04:05.000001', 'y', 'a,c', b'10101', 0x00ff, 0x01, 18446744073709551615, '{\"a\": 1}', _latin1 X'636166e9')",
		"INSERT INTO c.typed VALUES (2, 'Bob', 'x', -0.00, -1.5e30, 1e-300, '0000-00-00 00:00:00', NULL, 'x', '', b'0', '', 0x0102, 0, NULL, 'x')",
		"INSERT INTO c.typed (id) VALUES (3), (4), (5), (6)",
		"INSERT INTO c.typed (id, f, d, amount) VALUES (7, 3.1e38, 0.1e0 + 0.2e0, 99999999.99), (8, -1.2e-38, 1.7976931348623157e308, -0.01)",
		"UPDATE c.typed SET name = 'bob' WHERE id = 2",
	)
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) && w.ops.Load() < 2000 {
		time.Sleep(50 * time.Millisecond)
	}
	w.stop()
	syWaitCaughtUp(t, p, r, 60*time.Second)
	v := syWaitValidated(t, r, 50, 60*time.Second)
	if v.Failed != 0 || len(v.Rows) != 0 {
		t.Fatalf("rows reported as differing after %d writes that sync applied correctly: %+v", w.ops.Load(), v)
	}
	if v.Mode != "full" || v.Skipped == 0 {
		t.Errorf("mode %q, %d skipped: want full, and the rows of c.nokey (no key) skipped", v.Mode, v.Skipped)
	}
	t.Logf("after %d writes: %d rows checked, %d skipped, none differs", w.ops.Load(), v.Checked, v.Skipped)

	// Behind dmplan's back: a column changed, a row deleted.
	syExec(t, p.dstDB, "UPDATE c.typed SET name = 'Eve' WHERE id = 3", "DELETE FROM c.typed WHERE id = 4")
	syExec(t, p.srcDB, "UPDATE c.typed SET amount = 7 WHERE id IN (3, 4, 5)")
	v = syWaitFailed(t, r, 2, 60*time.Second)
	want := []string{"c.typed id=3 changed name", "c.typed id=4 missing "}
	if got := rowKeys(v); !slices.Equal(got, want) {
		t.Fatalf("reported rows %q, want %q", got, want)
	}
	var n int
	var file string
	var pos uint32
	if err := p.dstDB.QueryRow(`SELECT COUNT(*), MIN(binlog_file), MIN(binlog_pos) FROM dmplan_meta.validation_error
		WHERE task = 'val' AND source = 'src'`).Scan(&n, &file, &pos); err != nil || n != 2 || file == "" || pos == 0 {
		t.Fatalf("validation_error holds %d rows (binlog %s:%d), err %v: want 2 with their binlog positions", n, file, pos, err)
	}

	// A restart keeps what was found; mode fast checks presence only.
	if err := r.stop(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	cfg.Validate = "fast"
	r = syStart(t, cfg, syLog(t))
	syExec(t, p.dstDB, "UPDATE c.typed SET name = 'Mal' WHERE id = 5", "DELETE FROM c.typed WHERE id = 6")
	syExec(t, p.srcDB, "UPDATE c.typed SET amount = 8 WHERE id IN (5, 6)")
	v = syWaitFailed(t, r, 3, 60*time.Second)
	want = []string{"c.typed id=3 changed name", "c.typed id=4 missing ", "c.typed id=6 missing "}
	if got := rowKeys(v); !slices.Equal(got, want) || v.Mode != "fast" {
		t.Fatalf("mode %s reported rows %q, want fast and %q", v.Mode, got, want)
	}

	// Repaired on the target, then changed again: the record goes.
	syExec(t, p.dstDB, "INSERT INTO c.typed (id, amount) VALUES (4, 7)")
	syExec(t, p.srcDB, "UPDATE c.typed SET amount = 9 WHERE id = 4")
	v = syWaitFailed(t, r, 2, 60*time.Second)
	want = []string{"c.typed id=3 changed name", "c.typed id=6 missing "}
	if got := rowKeys(v); !slices.Equal(got, want) {
		t.Fatalf("after the repair, reported rows %q, want %q", got, want)
	}

	// A DDL between changes of the table: rows before it are read before
	// it is applied, rows after it with the new definition; nothing is
	// reported wrongly.
	checked := v.Checked
	syExec(t, p.srcDB, "UPDATE c.typed SET amount = 10 WHERE id IN (1, 2, 7)", "ALTER TABLE c.typed DROP COLUMN l, ADD COLUMN z INT NOT NULL DEFAULT 5",
		"UPDATE c.typed SET amount = 11, z = 6 WHERE id IN (1, 8)")
	syWaitCaughtUp(t, p, r, 60*time.Second)
	v = syWaitValidated(t, r, checked+4, 60*time.Second)
	if got := rowKeys(v); !slices.Equal(got, want) || v.Failed != 2 {
		t.Fatalf("after a DDL, reported rows %q (%d), want %q", got, v.Failed, want)
	}
}
