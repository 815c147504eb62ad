package units

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// metaSchema is the target schema that holds every checkpoint. It is never
// dumped, and never replicated by sync.
const metaSchema = "dmplan_meta"

// metaDDL creates the dump/load part of dmplan_meta. Every statement is
// idempotent. docs/units.md describes each table.
var metaDDL = []string{
	"CREATE DATABASE IF NOT EXISTS " + QuoteIdent(metaSchema) + " DEFAULT CHARACTER SET utf8mb4",
	// One row per snapshot that rows were read from. Attempts that are
	// interrupted and resumed take a new snapshot each.
	`CREATE TABLE IF NOT EXISTS dmplan_meta.dump_snapshot (
		task VARCHAR(64) NOT NULL,
		source VARCHAR(64) NOT NULL,
		snapshot_id INT UNSIGNED NOT NULL,
		binlog_file VARCHAR(255) NOT NULL,
		binlog_pos BIGINT UNSIGNED NOT NULL,
		gtid TEXT NOT NULL,
		taken_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
		PRIMARY KEY (task, source, snapshot_id)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	// One row per source table being loaded: where it goes, the columns
	// written and the key chunks are cut by (JSON lists), and whether this
	// subtask created the target table.
	`CREATE TABLE IF NOT EXISTS dmplan_meta.load_table (
		task VARCHAR(64) NOT NULL,
		source VARCHAR(64) NOT NULL,
		src_schema VARCHAR(64) NOT NULL,
		src_table VARCHAR(64) NOT NULL,
		dst_schema VARCHAR(64) NOT NULL,
		dst_table VARCHAR(64) NOT NULL,
		columns MEDIUMTEXT NOT NULL,
		chunk_key TEXT NOT NULL,
		created_target TINYINT NOT NULL DEFAULT 0,
		PRIMARY KEY (task, source, src_schema, src_table)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	// One row per chunk: the key range (lo_key, hi_key] (NULL: unbounded).
	// A chunk is recorded (done = 0) before its rows are read; the row
	// becomes done = 1, with the snapshot the rows came from, in the same
	// target transaction that writes the rows.
	`CREATE TABLE IF NOT EXISTS dmplan_meta.load_chunk (
		task VARCHAR(64) NOT NULL,
		source VARCHAR(64) NOT NULL,
		src_schema VARCHAR(64) NOT NULL,
		src_table VARCHAR(64) NOT NULL,
		seq INT UNSIGNED NOT NULL,
		lo_key MEDIUMTEXT NULL,
		hi_key MEDIUMTEXT NULL,
		done TINYINT NOT NULL DEFAULT 0,
		snapshot_id INT UNSIGNED NULL,
		row_count BIGINT UNSIGNED NOT NULL DEFAULT 0,
		byte_count BIGINT UNSIGNED NOT NULL DEFAULT 0,
		PRIMARY KEY (task, source, src_schema, src_table, seq)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	// One row when dump+load has finished: where sync starts.
	`CREATE TABLE IF NOT EXISTS dmplan_meta.load_done (
		task VARCHAR(64) NOT NULL,
		source VARCHAR(64) NOT NULL,
		binlog_file VARCHAR(255) NOT NULL,
		binlog_pos BIGINT UNSIGNED NOT NULL,
		gtid TEXT NOT NULL,
		finished_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
		PRIMARY KEY (task, source)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
}

// ensureMeta creates dmplan_meta and its dump/load tables when missing,
// then runs extra (other units' own CREATE TABLE IF NOT EXISTS ...
// statements, which must be idempotent too).
func ensureMeta(ctx context.Context, db querier, extra ...string) error {
	for _, stmt := range append(append([]string(nil), metaDDL...), extra...) {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create %s tables: %w", metaSchema, err)
		}
	}
	return nil
}

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
	return id, tx.Commit()
}
