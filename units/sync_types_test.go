package units

import (
	"context"
	"errors"
	"testing"
	"time"
)

// syTypesTable has every common column type, generated columns, a latin1
// column and a nullable one.
const syTypesTable = "CREATE TABLE d.`ty pes` (" +
	"id INT PRIMARY KEY," +
	"ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED," +
	"i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED," +
	"dec1 DECIMAL(20,6), dec2 DECIMAL(65,30), f FLOAT, d DOUBLE," +
	"dt DATE, tm TIME(3), dtm DATETIME(6), ts TIMESTAMP(6) NULL, y YEAR," +
	"c CHAR(10), vc VARCHAR(100), tx TEXT, lt LONGTEXT," +
	"bn BINARY(8), vb VARBINARY(50), bl BLOB," +
	"e ENUM('a','b','c d'), st SET('x','y','z')," +
	"b1 BIT(1), b64 BIT(64), j JSON," +
	"gen BIGINT AS (i + 1) VIRTUAL, gst VARCHAR(120) AS (CONCAT(vc, '!')) STORED," +
	"lat VARCHAR(20) CHARACTER SET latin1, `sel``ect` INT NULL, `ünï` VARCHAR(10))"

var syTypesRows = []string{
	`INSERT INTO d.` + "`ty pes`" + ` (id, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, dec1, dec2, f, d, dt, tm, dtm, ts, y,
		c, vc, tx, lt, bn, vb, bl, e, st, b1, b64, j, lat, ` + "`sel``ect`, `ünï`" + `) VALUES
	(1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615,
	 -12345678901234.123456, 12345678901234567890123456789012345.123456789012345678901234567890, 1.1, 3.141592653589793,
	 '2024-02-29', '-838:59:59.999', '2024-01-02 03:04:05.123456', '2038-01-19 03:14:07.999999', 2155,
	 'ab', 'it''s "q" \\ back', 'multi\nline\ttab\0nul', REPEAT('ü', 5000), 'a\0', X'00FF00FF', X'DEADBEEF00',
	 'c d', 'x,z', b'1', b'1111111111111111111111111111111111111111111111111111111111111111', '{"a": [1, "x"], "b": null}',
	 'café', NULL, 'ωμέγα')`,
	`INSERT INTO d.` + "`ty pes`" + ` (id, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, dec1, dec2, f, d, dt, tm, dtm, ts, y,
		c, vc, tx, lt, bn, vb, bl, e, st, b1, b64, j, lat) VALUES
	(2, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, 0,
	 0.000001, -0.000000000000000000000000000001, -3.4e38, -1.7976931348623157e308,
	 '0000-00-00', '00:00:00', '0000-00-00 00:00:00', NULL, 0,
	 '', '', '', '', '', '', '', 'a', '', b'0', b'0', '[]', '')`,
	`INSERT INTO d.` + "`ty pes`" + ` (id) VALUES (3)`,
	`INSERT INTO d.` + "`ty pes`" + ` (id, vc, tx, f, d) VALUES (4, '😀 emoji ✓', _utf8mb4 X'F09F9880', 1e-30, 5e-324)`,
}

var syTypesChanges = []string{
	"UPDATE d.`ty pes` SET tiu = 254, biu = 18446744073709551614, miu = 16777214, dec1 = -1.5, f = 2.5, e = 'b', st = 'y', b64 = 0, j = '{}' WHERE id = 1",
	"UPDATE d.`ty pes` SET vc = 'changed', bn = X'01', lat = 'naïve', ts = '1970-01-01 00:00:01' WHERE id = 2",
	"UPDATE d.`ty pes` SET i = 41, vc = NULL, `sel``ect` = 7 WHERE id = 3",
	"UPDATE d.`ty pes` SET id = 30 WHERE id = 3",
	"DELETE FROM d.`ty pes` WHERE id = 4",
	"INSERT INTO d.`ty pes` (id, bn, c) VALUES (5, X'0000000000000001', 'pad  ')",
	"UPDATE d.`ty pes` SET c = 'x' WHERE bn = X'0000000000000001'",
}

// TestSyncTypes: every column type survives insert, update and delete.
func TestSyncTypes(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	syExec(t, p.srcDB, "CREATE DATABASE d", syTypesTable)
	syCopySchema(t, p, "d", "ty pes")
	cfg := p.config("types", ModeIncremental, []string{"d.*"})
	r := syStart(t, cfg, syLog(t))
	syWaitCaughtUp(t, p, r, 20*time.Second)
	syExec(t, p.srcDB, syTypesRows...)
	syWaitSame(t, p, 20*time.Second, "d.`ty pes`=d.`ty pes`")
	syExec(t, p.srcDB, syTypesChanges...)
	syWaitSame(t, p, 20*time.Second, "d.`ty pes`=d.`ty pes`")
	if err := r.stop(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v after cancel, want context.Canceled", err)
	}
}
