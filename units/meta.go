package units

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// loadDone returns the recorded start position when this subtask's load
// has finished.
func loadDone(ctx context.Context, db querier, task, source string) (Position, bool, error) {
	var p Position
	err := db.QueryRowContext(ctx, `SELECT binlog_file, binlog_pos, gtid FROM dmplan_meta.load_done
		WHERE task = ? AND source = ?`, task, source).Scan(&p.File, &p.Pos, &p.GTID)
	if errors.Is(err, sql.ErrNoRows) {
		return Position{}, false, nil
	}
	if err != nil {
		return Position{}, false, fmt.Errorf("read load checkpoint of %s/%s: %w", task, source, err)
	}
	return p, true, nil
}

// ResetDumpLoad forgets every dump/load checkpoint of a subtask, so that
// the next DumpLoad starts from a fresh snapshot. It does not touch the
// rows already loaded into target tables: the caller empties those (a
// fresh dump of a table that is not empty fails on duplicate keys).
func ResetDumpLoad(ctx context.Context, target *sql.DB, task, source string) error {
	if err := ensureMeta(ctx, target); err != nil {
		return err
	}
	for _, t := range []string{"load_done", "load_chunk", "load_table", "dump_snapshot"} {
		if _, err := target.ExecContext(ctx, "DELETE FROM dmplan_meta."+t+" WHERE task = ? AND source = ?", task, source); err != nil {
			return fmt.Errorf("reset dump/load checkpoints of %s/%s: %w", task, source, err)
		}
	}
	return nil
}

// snapshotPositions reads every snapshot of a subtask by id.
func snapshotPositions(ctx context.Context, db querier, task, source string) (map[uint32]Position, error) {
	rows, err := db.QueryContext(ctx, `SELECT snapshot_id, binlog_file, binlog_pos, gtid FROM dmplan_meta.dump_snapshot
		WHERE task = ? AND source = ?`, task, source)
	if err != nil {
		return nil, fmt.Errorf("read snapshots of %s/%s: %w", task, source, err)
	}
	defer rows.Close()
	out := map[uint32]Position{}
	for rows.Next() {
		var id uint32
		var p Position
		if err := rows.Scan(&id, &p.File, &p.Pos, &p.GTID); err != nil {
			return nil, fmt.Errorf("read snapshots of %s/%s: %w", task, source, err)
		}
		out[id] = p
	}
	return out, rows.Err()
}

// recordSnapshot stores a new snapshot and returns its id.
func recordSnapshot(ctx context.Context, db *sql.DB, task, source string, p Position) (uint32, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("record snapshot: %w", err)
	}
	defer tx.Rollback()
	var id uint32
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(snapshot_id), 0) + 1 FROM dmplan_meta.dump_snapshot
		WHERE task = ? AND source = ? FOR UPDATE`, task, source).Scan(&id); err != nil {
		return 0, fmt.Errorf("record snapshot: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO dmplan_meta.dump_snapshot (task, source, snapshot_id, binlog_file, binlog_pos, gtid)
		VALUES (?, ?, ?, ?, ?, ?)`, task, source, id, p.File, p.Pos, p.GTID); err != nil {
		return 0, fmt.Errorf("record snapshot: %w", err)
	}
	return id, commit(ctx, tx)
}
