package units

import (
	"testing"
	"time"
)

// TestSyncCompressedBinlog: a MariaDB source writing compressed events
// (log_bin_compress: QUERY_COMPRESSED_EVENT and the *_ROWS_COMPRESSED_EVENT_V1
// kinds) syncs like any other: every column type, a DDL, updates and deletes.
func TestSyncCompressedBinlog(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	p := newSyPair(t)
	syExec(t, p.srcDB, "CREATE DATABASE d", syTypesTable)
	syCopySchema(t, p, "d", "ty pes")
	cfg := p.config("compressed", ModeIncremental, []string{"d.*"})
	r := syStart(t, cfg, syLog(t))
	syWaitCaughtUp(t, p, r, 20*time.Second)
	syExec(t, p.srcDB, "SET GLOBAL log_bin_compress = ON", "SET GLOBAL log_bin_compress_min_len = 10")
	t.Cleanup(func() { p.srcDB.Exec("SET GLOBAL log_bin_compress = OFF") })
	syExec(t, p.srcDB, syTypesRows...)
	syExec(t, p.srcDB, "ALTER TABLE d.`ty pes` ADD COLUMN extra VARCHAR(40) NULL DEFAULT 'compressed ddl'")
	syExec(t, p.srcDB, syTypesChanges...)
	syExec(t, p.srcDB, "UPDATE d.`ty pes` SET extra = REPEAT('z', 30) WHERE id = 1")
	// The source did write compressed events (else this tests nothing new).
	kinds := map[string]bool{}
	var file string
	var pos uint32
	var x, y any
	if err := p.srcDB.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &x, &y); err != nil {
		t.Fatal(err)
	}
	rows, err := p.srcDB.Query("SHOW BINLOG EVENTS IN '" + file + "'")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name, kind, info string
		var pos, sid, end uint64
		if err := rows.Scan(&name, &pos, &kind, &sid, &end, &info); err != nil {
			t.Fatal(err)
		}
		kinds[kind] = true
	}
	rows.Close()
	for _, k := range []string{"Query_compressed", "Write_rows_compressed_v1", "Update_rows_compressed_v1", "Delete_rows_compressed_v1"} {
		if !kinds[k] {
			t.Fatalf("the source's binlog has no %s event (kinds: %v)", k, kinds)
		}
	}
	syWaitSame(t, p, 20*time.Second, "d.`ty pes`=d.`ty pes`")
	syWaitCaughtUp(t, p, r, 20*time.Second)
	if n := r.errs.Load(); n > 0 {
		t.Errorf("sync reported %d errors (last: %+v)", n, r.last.Load())
	}
	r.stop(t)
}
