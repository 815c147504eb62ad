package units

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/dmplan/dmplan/internal/ownership"
	"github.com/dmplan/dmplan/internal/tablefilter"
)

// copyNewTables dumps and loads, from a new snapshot P2, the source tables
// the current filter selects (refs) and the previous filter (oldRules) did
// not, when the subtask's load has already finished (modes all and full).
// Until then DumpLoad lists the tables with the current filter anyway.
//
// Sync, resuming from its older checkpoint, skips those tables' events up
// to P2 through the load windows (readLoadWindows: an event at or before a
// table's From is skipped), and applies the later ones. Tables already
// loaded are not read again. A table that the filter selected, then left
// out, then selects again missed every change made while it was left
// out: it is copied again on the same path, its earlier load forgotten
// and its target rows removed first as ownership.Decide says (recopy).
func (e *syncEnv) copyNewTables(ctx context.Context, target *sql.DB, oldRules []string, refs []tableRef, r Reporter) error {
	cfg := e.cfg
	if _, done, err := loadDone(ctx, target, cfg.Task, cfg.Source); err != nil || !done {
		return err
	}
	oldFilter, err := tablefilter.Parse(oldRules)
	if err != nil {
		e.log.Warn("the recorded table filter does not parse; no table is taken as newly selected", "err", err)
		return nil
	}
	if e.lctn != 0 {
		oldFilter = oldFilter.Folded() // names.go
	}
	loaded, err := loadedTables(ctx, target, cfg)
	if err != nil {
		return err
	}
	only := map[tableRef]bool{}
	var again []tableRef
	for _, ref := range refs {
		if oldFilter.Match(ref.Schema, ref.Name) {
			continue
		}
		if loaded[ref] {
			again = append(again, ref)
		}
		only[ref] = true
	}
	if len(only) == 0 {
		return nil
	}
	if err := e.recopy(ctx, target, again, only); err != nil {
		return err
	}
	e.log.Info("the table filter selects new tables: copying them from a new snapshot before sync resumes",
		"tables", len(only), "selected_again", len(again))
	if _, err := dumpLoadTables(ctx, cfg, DumpLoadOptions{fence: e.fence}, only, r, e.baseLog); err != nil {
		return fmt.Errorf("copy newly selected tables of %s/%s: %w", cfg.Task, cfg.Source, err)
	}
	return nil
}

// recopy prepares the tables selected again (again) to be copied like new
// ones: each target table is dealt with as ownership.Decide says — its
// rows are this source table's alone unless other subtasks, or other
// source tables of this subtask that are not copied now (only), write
// into it too — and the table's load_table and load_chunk rows are
// deleted, so that DumpLoad copies it whole. A crash in between repeats
// it: the target table is then absent or empty.
func (e *syncEnv) recopy(ctx context.Context, target *sql.DB, again []tableRef, only map[tableRef]bool) error {
	cfg := e.cfg
	for _, ref := range again {
		db, tbl := e.router.Route(ref.Schema, ref.Name)
		dst := tableRef{db, tbl}
		what := fmt.Sprintf("copy %s of %s/%s again (selected again after it was left out)", ref, cfg.Task, cfg.Source)
		f, err := tableFacts(ctx, target, cfg, dst, func(src tableRef) bool { return only[src] })
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		f.Wrote = true // its earlier load is recorded
		switch a := ownership.Decide(f); a {
		case ownership.Drop:
			if _, err := target.ExecContext(ctx, "DROP TABLE IF EXISTS "+dst.String()); err != nil {
				return fmt.Errorf("%s: drop %s: %w", what, dst, err)
			}
		case ownership.Keep:
		default:
			return refusal(what, cfg, dst, f, a)
		}
		for _, t := range []string{"load_chunk", "load_table"} {
			if _, err := target.ExecContext(ctx, "DELETE FROM dmplan_meta."+t+" WHERE task = ? AND source = ? AND src_schema = ? AND src_table = ?",
				cfg.Task, cfg.Source, ref.Schema, ref.Name); err != nil {
				return fmt.Errorf("%s: forget its earlier load: %w", what, err)
			}
		}
		e.log.Info("table selected again after it was left out: copied again from a new snapshot, so that the changes made "+
			"while it was left out are not missing", "table", ref.String(), "target", dst.String())
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
