package units

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/dmplan/dmplan/internal/tablefilter"
)

// copyNewTables dumps and loads, from a new snapshot P2, the source tables
// the current filter selects and the previous filter (oldRules) did not,
// when the subtask's load has already finished (modes all and full). Until
// then DumpLoad lists the tables with the current filter anyway.
//
// Sync, resuming from its older checkpoint, skips those tables' events up
// to P2 through the load windows (ReadLoadWindows: an event at or before a
// table's From is skipped), and applies the later ones. Tables already
// loaded are not read again. A table that the filter selected, then left
// out, then selects again is not copied again (its load is recorded): its
// target rows miss what happened while it was left out; a warning says so.
func (e *syncEnv) copyNewTables(ctx context.Context, target *sql.DB, oldRules []string, r Reporter) error {
	cfg := e.cfg
	if _, done, err := loadDone(ctx, target, cfg.Task, cfg.Source); err != nil || !done {
		return err
	}
	oldFilter, err := tablefilter.Parse(oldRules)
	if err != nil {
		e.log.Warn("the recorded table filter does not parse; no table is taken as newly selected", "err", err)
		return nil
	}
	src, err := Open(cfg.From, 1)
	if err != nil {
		return err
	}
	refs, err := listTables(ctx, src, e.filter.Match)
	src.Close()
	if err != nil {
		return err
	}
	loaded, err := loadedTables(ctx, target, cfg)
	if err != nil {
		return err
	}
	only := map[tableRef]bool{}
	for _, ref := range refs {
		if oldFilter.Match(ref.Schema, ref.Name) {
			continue
		}
		if loaded[ref] {
			e.log.Warn("table selected again after it was left out: it is not copied again, so its target rows miss "+
				"the changes made while it was left out; to copy it again, empty its target table, delete its rows from "+
				"dmplan_meta.load_table and load_chunk, and restart", "table", ref.String())
			continue
		}
		only[ref] = true
	}
	if len(only) == 0 {
		return nil
	}
	e.log.Info("the table filter selects new tables: copying them from a new snapshot before sync resumes", "tables", len(only))
	if _, err := dumpLoadTables(ctx, cfg, DumpLoadOptions{}, only, r, e.baseLog); err != nil {
		return fmt.Errorf("copy newly selected tables of %s/%s: %w", cfg.Task, cfg.Source, err)
	}
	return nil
}

// loadedTables lists the source tables whose load is complete: recorded
// in load_table with every chunk done.
func loadedTables(ctx context.Context, target *sql.DB, cfg Config) (map[tableRef]bool, error) {
	rows, err := target.QueryContext(ctx, `SELECT t.src_schema, t.src_table FROM dmplan_meta.load_table t
		WHERE t.task = ? AND t.source = ? AND NOT EXISTS (SELECT 1 FROM dmplan_meta.load_chunk c
			WHERE c.task = t.task AND c.source = t.source AND c.src_schema = t.src_schema AND c.src_table = t.src_table AND c.done = 0)`,
		cfg.Task, cfg.Source)
	if err != nil {
		return nil, fmt.Errorf("read loaded tables of %s/%s: %w", cfg.Task, cfg.Source, err)
	}
	defer rows.Close()
	out := map[tableRef]bool{}
	for rows.Next() {
		var t tableRef
		if err := rows.Scan(&t.Schema, &t.Name); err != nil {
			return nil, fmt.Errorf("read loaded tables of %s/%s: %w", cfg.Task, cfg.Source, err)
		}
		out[t] = true
	}
	return out, rows.Err()
}
