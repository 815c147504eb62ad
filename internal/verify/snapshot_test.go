package verify

import (
	"context"
	"database/sql"
	"testing"

	"github.com/dmplan/dmplan/internal/mariadbtest"
	"github.com/dmplan/dmplan/units"
)

// TestSnapshotPositionNotEarly: the position a source snapshot is read
// with is at or after every commit the snapshot sees, while 8 sessions
// commit and 4 others read SHOW STATUS LIKE 'binlog_snapshot_%' (two of
// them holding old snapshots). A re-check waits for sync to pass that
// position before it reads the target; an earlier one (MariaDB hands a
// session another session's binlog_snapshot_position when their SHOW
// STATUS run at once: docs/units.md, "Why not lock-free") would read the
// target too soon and report a row that is only late.
func TestSnapshotPositionNotEarly(t *testing.T) {
	needServers(t)
	db := open(t, source)
	db.SetMaxIdleConns(16)
	exec(t, db, "DROP DATABASE IF EXISTS snappos", "CREATE DATABASE snappos", "CREATE TABLE snappos.t (id BIGINT AUTO_INCREMENT PRIMARY KEY)")
	base, stop := mariadbtest.CommitStorm(t, db, "snappos.t")
	defer stop()

	sub := &subtask{src: db, flavor: "mariadb", ck: &checkpointWatch{syncing: true}}
	sub.From = endpoint(source)
	early := 0
	for i := range 150 {
		var seen int64
		pos, err := snapshot(context.Background(), sub, func(q units.Querier, _ units.Position) error {
			return q.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM snappos.t").Scan(&seen)
		})
		if err != nil {
			t.Fatal(err)
		}
		var at sql.NullString
		if err := db.QueryRow("SELECT BINLOG_GTID_POS(?, ?)", pos.File, pos.Pos).Scan(&at); err != nil || !at.Valid {
			t.Fatalf("read %d: BINLOG_GTID_POS(%s, %d): %v (NULL: not an event boundary)", i, pos.File, pos.Pos, err)
		}
		seq, err := mariadbtest.GTIDSeq(at.String)
		if err != nil {
			t.Fatal(err)
		}
		if seen > seq-base {
			early++
			t.Errorf("read %d: the snapshot sees %d commits, its position %s:%d only %d", i, seen, pos.File, pos.Pos, seq-base)
		}
	}
	if early > 0 {
		t.Errorf("%d of 150 positions were before commits their snapshot sees", early)
	}
}
