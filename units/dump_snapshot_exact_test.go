package units

import (
	"context"
	"database/sql"
	"testing"

	"github.com/dmplan/dmplan/internal/mariadbtest"
)

// TestSnapshotExactUnderCommits: every connection of a snapshot sees
// exactly the commits before the snapshot's binlog position, while 8
// sessions commit as fast as they can and other sessions read
// SHOW STATUS LIKE 'binlog_snapshot_%' (a monitoring agent, another
// subtask's snapshot). Each commit inserts one row and writes one GTID, so
// a connection's COUNT(*) must equal the GTID sequence number at the
// position (BINLOG_GTID_POS) minus the one before the writes began.
//
// MariaDB keeps binlog_snapshot_file/position in process-wide variables
// that each SHOW STATUS fills in and then reads: a concurrent SHOW STATUS
// of another session can hand a connection that session's position
// (docs/units.md, "How a copy runs"). Two connections that read the same
// position could hold snapshots a transaction apart: the copy then held a
// commit after its position (sync failed on a duplicate key, units
// TestSyncForeignKeyCascades) or lacked one before it (a row silently
// missing, units TestSyncOnlineDDLPtOSC), about once in 20 snapshots
// here before the position was read under a commit block.
func TestSnapshotExactUnderCommits(t *testing.T) {
	t.Parallel() // its own server (see parallel_test.go)
	s := mariadbtest.New(t, dlOptions(t, mariadbtest.Options{}))
	db, err := s.DB("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxIdleConns(16)
	dlExec(t, db, "CREATE DATABASE snapx", "CREATE TABLE snapx.t (id BIGINT AUTO_INCREMENT PRIMARY KEY)")
	base, stop := mariadbtest.CommitStorm(t, db, "snapx.t")
	defer stop()

	src, err := Open(Endpoint{Host: "127.0.0.1", Port: s.Port, User: "root"}, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	const snapshots = 60
	wrong := 0
	for i := range snapshots {
		snap, err := takeSnapshot(context.Background(), src, "mariadb", 2, true, nil, dlLog(t))
		if err != nil {
			t.Fatal(err)
		}
		var at sql.NullString
		if err := src.QueryRow("SELECT BINLOG_GTID_POS(?, ?)", snap.pos.File, snap.pos.Pos).Scan(&at); err != nil || !at.Valid {
			snap.close()
			t.Fatalf("snapshot %d: BINLOG_GTID_POS(%s, %d): %v (NULL: not an event boundary)", i, snap.pos.File, snap.pos.Pos, err)
		}
		seq, err := mariadbtest.GTIDSeq(at.String)
		if err != nil {
			snap.close()
			t.Fatal(err)
		}
		want := seq - base
		for ci, c := range snap.conns {
			var n int64
			if err := c.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM snapx.t").Scan(&n); err != nil {
				snap.close()
				t.Fatal(err)
			}
			if n != want {
				wrong++
				t.Errorf("snapshot %d (%s) at %s:%d (GTID %s): connection %d sees %d commits, the position says %d",
					i, snap.how, snap.pos.File, snap.pos.Pos, at.String, ci, n, want)
			}
		}
		snap.close()
	}
	if wrong > 0 {
		t.Errorf("%d of %d snapshot connections saw other commits than their position says", wrong, 2*snapshots)
	}
}
