package units

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// registerBatch is how many tables one statement of registerTables
// records (100 tables of 1,000 columns: about 2 MB of column lists, well
// within max_allowed_packet).
const registerBatch = 100

// loadState is what dmplan_meta records of a subtask's earlier attempts.
type loadState struct {
	recs map[tableRef][]chunkState
	sigs map[tableRef]tableSig
}

type chunkState struct {
	chunkRec
	done bool
	rows int64
}

// tableSig is a load_table row.
type tableSig struct {
	cols, key string
	dst       tableRef
	created   bool // this subtask created the target table
}

func readLoadState(ctx context.Context, target *sql.DB, cfg Config) (*loadState, error) {
	st := &loadState{recs: map[tableRef][]chunkState{}, sigs: map[tableRef]tableSig{}}
	rows, err := target.QueryContext(ctx, `SELECT src_schema, src_table, seq, lo_key, hi_key, done, row_count
		FROM dmplan_meta.load_chunk WHERE task = ? AND source = ? ORDER BY src_schema, src_table, seq`, cfg.Task, cfg.Source)
	if err != nil {
		return nil, fmt.Errorf("read load checkpoints: %w", err)
	}
	for rows.Next() {
		var t tableRef
		var r chunkState
		var lo, hi sql.NullString
		if err := rows.Scan(&t.Schema, &t.Name, &r.seq, &lo, &hi, &r.done, &r.rows); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read load checkpoints: %w", err)
		}
		if lo.Valid {
			r.lo = &lo.String
		}
		if hi.Valid {
			r.hi = &hi.String
		}
		st.recs[t] = append(st.recs[t], r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read load checkpoints: %w", err)
	}
	rows, err = target.QueryContext(ctx, `SELECT src_schema, src_table, columns, chunk_key, dst_schema, dst_table, created_target
		FROM dmplan_meta.load_table WHERE task = ? AND source = ?`, cfg.Task, cfg.Source)
	if err != nil {
		return nil, fmt.Errorf("read load checkpoints: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t tableRef
		var g tableSig
		if err := rows.Scan(&t.Schema, &t.Name, &g.cols, &g.key, &g.dst.Schema, &g.dst.Name, &g.created); err != nil {
			return nil, fmt.Errorf("read load checkpoints: %w", err)
		}
		st.sigs[t] = g
	}
	return st, rows.Err()
}

// changed reports whether j's definition or route differs from the one
// its earlier chunks were loaded with.
func (st *loadState) changed(j *tableJob) bool {
	g, ok := st.sigs[j.src]
	cols, key := j.signature()
	return ok && (g.cols != cols || g.key != key || g.dst != j.dst)
}

// resolveChanged handles tables whose definition changed since an earlier
// attempt (DDL during the dump). One with no chunk loaded, whose target
// table this subtask created and which is still empty, is dropped on the
// target, to be created again from the new definition and loaded from
// scratch. Any other is a permanent error that says what to do.
func (st *loadState) resolveChanged(ctx context.Context, target *sql.DB, cfg Config, jobs []*tableJob, log *slog.Logger) error {
	for _, j := range jobs {
		if !st.changed(j) {
			continue
		}
		g := st.sigs[j.src]
		loaded := false
		for _, r := range st.recs[j.src] {
			loaded = loaded || r.done
		}
		empty := false
		if !loaded && g.created && g.dst == j.dst {
			var one int
			err := target.QueryRowContext(ctx, "SELECT 1 FROM "+j.dst.String()+" LIMIT 1").Scan(&one)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("check target table %s: %w", j.dst, err)
			}
			empty = errors.Is(err, sql.ErrNoRows)
		}
		if !empty {
			return Permanent(fmt.Errorf("table %s changed on the source (columns, key or route) while its load was interrupted: "+
				"empty its target table %s (or drop it), then DELETE FROM dmplan_meta.load_chunk and dmplan_meta.load_table "+
				"WHERE task = '%s' AND source = '%s' AND src_schema = '%s' AND src_table = '%s', and start again",
				j.src, g.dst, cfg.Task, cfg.Source, j.src.Schema, j.src.Name))
		}
		if _, err := target.ExecContext(ctx, "DROP TABLE IF EXISTS "+j.dst.String()); err != nil {
			return fmt.Errorf("drop %s to create it again from the new definition of %s: %w", j.dst, j.src, err)
		}
		log.Info("table changed on the source before any row was loaded: its empty target table is created again",
			"table", j.src.String(), "target", j.dst.String())
		delete(st.recs, j.src)
	}
	return nil
}

// apply fills each job's pending chunks from the recorded ones, and
// records new tables (and changed ones, afresh) with their first chunk.
// created lists the target tables createTargets has just created.
func (st *loadState) apply(ctx context.Context, target *sql.DB, cfg Config, jobs []*tableJob, created map[tableRef]bool) error {
	var fresh []*tableJob
	for _, j := range jobs {
		_, known := st.sigs[j.src]
		if known && !st.changed(j) && len(st.recs[j.src]) > 0 {
			for _, r := range st.recs[j.src] {
				j.maxSeq = max(j.maxSeq, r.seq)
				if r.done {
					j.rowsDone += r.rows
					j.replace = true
				} else {
					j.pending = append(j.pending, r.chunkRec)
				}
			}
			continue
		}
		fresh = append(fresh, j)
	}
	return registerTables(ctx, target, cfg, fresh, created)
}

// registerTables records tables and their first chunk, the whole key
// range, replacing whatever was recorded of them, in one target
// transaction (one fsync, not one per table), three statements per
// registerBatch tables (three per table took 8-25 ms for 8 tables under
// load).
func registerTables(ctx context.Context, target *sql.DB, cfg Config, jobs []*tableJob, created map[tableRef]bool) error {
	if len(jobs) == 0 {
		return nil
	}
	tx, err := target.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("register tables: %w", err)
	}
	defer tx.Rollback()
	for batch := range slices.Chunk(jobs, registerBatch) {
		what := fmt.Sprintf("register %d tables from %s", len(batch), batch[0])
		tables := strings.Repeat(", (?, ?, ?, ?, ?, ?, ?, ?, ?)", len(batch))[2:]
		chunks := strings.Repeat(", (?, ?, ?, ?, 1)", len(batch))[2:]
		names := strings.Repeat(" OR (src_schema = ? AND src_table = ?)", len(batch))[4:]
		var targs, cargs, nargs []any
		nargs = append(nargs, cfg.Task, cfg.Source)
		for _, j := range batch {
			cols, key := j.signature()
			targs = append(targs, cfg.Task, cfg.Source, j.src.Schema, j.src.Name, j.dst.Schema, j.dst.Name, cols, key, created[j.dst])
			cargs = append(cargs, cfg.Task, cfg.Source, j.src.Schema, j.src.Name)
			nargs = append(nargs, j.src.Schema, j.src.Name)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO dmplan_meta.load_table
			(task, source, src_schema, src_table, dst_schema, dst_table, columns, chunk_key, created_target) VALUES `+tables+`
			ON DUPLICATE KEY UPDATE dst_schema = VALUES(dst_schema), dst_table = VALUES(dst_table),
			columns = VALUES(columns), chunk_key = VALUES(chunk_key), created_target = created_target OR VALUES(created_target)`,
			targs...); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM dmplan_meta.load_chunk WHERE task = ? AND source = ? AND (`+names+`)`,
			nargs...); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO dmplan_meta.load_chunk (task, source, src_schema, src_table, seq)
			VALUES `+chunks, cargs...); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	if err := commit(ctx, tx); err != nil {
		return fmt.Errorf("register tables: %w", err)
	}
	for _, j := range jobs {
		j.pending = []chunkRec{{seq: 1}}
		j.maxSeq = 1
	}
	return nil
}
