package verify

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"

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
	seqOf := func(gtid string) (int64, error) {
		var domain, server, seq int64
		if _, err := fmt.Sscanf(gtid, "%d-%d-%d", &domain, &server, &seq); err != nil {
			return 0, fmt.Errorf("GTID %q: %w", gtid, err)
		}
		return seq, nil
	}
	var g string
	if err := db.QueryRow("SELECT @@gtid_binlog_pos").Scan(&g); err != nil {
		t.Fatal(err)
	}
	base, err := seqOf(g)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				db.ExecContext(ctx, "INSERT INTO snappos.t VALUES ()")
			}
		})
	}
	for _, old := range []bool{false, true, false, true} {
		wg.Go(func() {
			c, err := db.Conn(ctx)
			if err != nil {
				return
			}
			defer c.Close()
			if old {
				c.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT")
			}
			for ctx.Err() == nil {
				if rows, err := c.QueryContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'"); err == nil {
					rows.Close()
				}
			}
		})
	}
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
		seq, err := seqOf(at.String)
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
