package units

import (
	"context"
	"fmt"
)

// shardHold is a source table whose changes sync holds because the table
// reached a DDL of a shard DDL lock (docs/shard-ddl.md). Its row in
// dmplan_meta.shard_hold outlives the attempt: a restart, or another
// agent after a failover, holds the same changes.
type shardHold struct {
	src    tableRef
	target string // the merged target table, "db.table"
	ddl    string // normalised target statement
	at     syncSeq
	atMark workerMark
	from   Position // the resume point before the DDL
	done   bool     // the lock was executed: replay the held changes
	// replaying: done when this attempt started, so this attempt reads
	// the held changes again (only then can the hold end)
	replaying bool
	// owner: this attempt's join again (rejoin) completed the lock
	owner bool
}

func readShardHolds(ctx context.Context, q querier, task, source string) (map[tableRef]*shardHold, error) {
	rows, err := q.QueryContext(ctx, `SELECT src_schema, src_table, target, ddl, ddl_file, ddl_pos, from_file, from_pos, from_gtid, done
		FROM dmplan_meta.shard_hold WHERE task = ? AND source = ?`, task, source)
	if err != nil {
		return nil, fmt.Errorf("read shard holds of %s/%s: %w", task, source, err)
	}
	defer rows.Close()
	out := map[tableRef]*shardHold{}
	for rows.Next() {
		h := &shardHold{}
		var done int
		if err := rows.Scan(&h.src.Schema, &h.src.Name, &h.target, &h.ddl, &h.atMark.File, &h.atMark.Pos,
			&h.from.File, &h.from.Pos, &h.from.GTID, &done); err != nil {
			return nil, fmt.Errorf("read shard holds of %s/%s: %w", task, source, err)
		}
		h.at, h.done = h.atMark.seq(), done == 1
		h.replaying = h.done
		out[h.src] = h
	}
	return out, rows.Err()
}

func (m *syncMeta) putShardHold(ctx context.Context, h *shardHold) error {
	done := 0
	if h.done {
		done = 1
	}
	_, err := m.db.ExecContext(ctx, `REPLACE INTO dmplan_meta.shard_hold
		(task, source, src_schema, src_table, target, ddl, ddl_file, ddl_pos, from_file, from_pos, from_gtid, done)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, m.task, m.source, h.src.Schema, h.src.Name, h.target, h.ddl,
		h.atMark.File, h.atMark.Pos, h.from.File, h.from.Pos, h.from.GTID, done)
	if err != nil {
		return fmt.Errorf("record shard hold of %s in %s/%s: %w", h.src, m.task, m.source, err)
	}
	return nil
}

func (m *syncMeta) deleteShardHold(ctx context.Context, h *shardHold) error {
	_, err := m.db.ExecContext(ctx, `DELETE FROM dmplan_meta.shard_hold WHERE task = ? AND source = ? AND src_schema = ? AND src_table = ?`,
		m.task, m.source, h.src.Schema, h.src.Name)
	if err != nil {
		return fmt.Errorf("end shard hold of %s in %s/%s: %w", h.src, m.task, m.source, err)
	}
	return nil
}
