package units

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/dmplan/dmplan/internal/ownership"
)

// Every subtask records which target tables it writes into, whatever its
// mode, in dmplan_meta.subtask_table (meta_tables.go). Every start of a
// subtask registers the tables its filter and routes select (state
// "current"); sync registers a table it meets for the first time before
// applying its first row. Rows of tables the subtask no longer writes
// into stay, so the target knows who left rows where: "deselected" (the
// filter left the source table out) or "orphaned" (the routes now send it
// elsewhere). A row whose target table is gone is deleted. A fresh start
// or a re-copy consults it to tell its own tables from shared ones
// (ownership.Decide).

// States of a subtask_table row.
const (
	tableCurrent    = "current"
	tableDeselected = "deselected"
	tableOrphaned   = "orphaned"
)

// srcDst is one source table and the target table its rows go to.
type srcDst struct{ src, dst tableRef }

// ownedTables is what this run registered: the pairs already recorded
// (sync registers the others on first sight) and the target tables the
// subtask left behind under earlier routes.
type ownedTables struct {
	mu         sync.Mutex
	registered map[srcDst]bool
	orphaned   []string
}

func (o *ownedTables) known(p srcDst) bool {
	if o == nil {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.registered[p]
}

func (o *ownedTables) add(p srcDst) {
	o.mu.Lock()
	if o.registered == nil {
		o.registered = map[srcDst]bool{}
	}
	o.registered[p] = true
	o.mu.Unlock()
}

// orphans returns the target tables left behind ([] when none, nil when
// not known yet).
func (o *ownedTables) orphans() []string {
	if o == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.orphaned
}

// registerTarget records that the subtask writes rows of src into dst.
func registerTarget(ctx context.Context, db querier, cfg Config, p srcDst) error {
	if _, err := db.ExecContext(ctx, `INSERT INTO dmplan_meta.subtask_table
		(task, source, src_schema, src_table, dst_schema, dst_table, mode, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON DUPLICATE KEY UPDATE mode = VALUES(mode), state = VALUES(state)`,
		cfg.Task, cfg.Source, p.src.Schema, p.src.Name, p.dst.Schema, p.dst.Name, string(cfg.Mode), tableCurrent); err != nil {
		return fmt.Errorf("register target table %s of %s/%s: %w", p.dst, cfg.Task, cfg.Source, err)
	}
	return nil
}

// registerTargets is registerTarget for many pairs, 500 to a statement.
func registerTargets(ctx context.Context, db querier, cfg Config, ps []srcDst) error {
	for len(ps) > 0 {
		n := min(len(ps), 500)
		var b strings.Builder
		args := make([]any, 0, 8*n)
		b.WriteString(`INSERT INTO dmplan_meta.subtask_table
			(task, source, src_schema, src_table, dst_schema, dst_table, mode, state) VALUES `)
		for i, p := range ps[:n] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, cfg.Task, cfg.Source, p.src.Schema, p.src.Name, p.dst.Schema, p.dst.Name, string(cfg.Mode), tableCurrent)
		}
		b.WriteString(" ON DUPLICATE KEY UPDATE mode = VALUES(mode), state = VALUES(state)")
		if _, err := db.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("register the target tables of %s/%s: %w", cfg.Task, cfg.Source, err)
		}
		ps = ps[n:]
	}
	return nil
}

// registration is one subtask_table row of this subtask.
type registration struct {
	srcDst
	state string
}

// myRegistrations reads this subtask's subtask_table rows; a subtask
// that ran before the table existed has none, and its load_table rows
// stand in for them.
func myRegistrations(ctx context.Context, db querier, cfg Config) ([]registration, error) {
	read := func(query string) ([]registration, error) {
		rows, err := db.QueryContext(ctx, query, cfg.Task, cfg.Source)
		if err != nil {
			return nil, fmt.Errorf("read target tables of %s/%s: %w", cfg.Task, cfg.Source, err)
		}
		defer rows.Close()
		var out []registration
		for rows.Next() {
			var r registration
			if err := rows.Scan(&r.src.Schema, &r.src.Name, &r.dst.Schema, &r.dst.Name, &r.state); err != nil {
				return nil, fmt.Errorf("read target tables of %s/%s: %w", cfg.Task, cfg.Source, err)
			}
			out = append(out, r)
		}
		return out, rows.Err()
	}
	regs, err := read(`SELECT src_schema, src_table, dst_schema, dst_table, state FROM dmplan_meta.subtask_table
		WHERE task = ? AND source = ?`)
	if err != nil || len(regs) > 0 {
		return regs, err
	}
	return read(`SELECT src_schema, src_table, dst_schema, dst_table, '' FROM dmplan_meta.load_table
		WHERE task = ? AND source = ?`)
}

// registerTables brings this subtask's subtask_table rows up to date with
// its configuration: refs are the source tables the filter selects. It
// returns the target tables left behind under earlier routes (sorted).
func (e *syncEnv) registerTables(ctx context.Context, target *sql.DB, refs []tableRef) ([]string, error) {
	cfg := e.cfg
	regs, err := myRegistrations(ctx, target, cfg)
	if err != nil {
		return nil, err
	}
	selected := map[tableRef]bool{}
	cur := map[srcDst]bool{}
	curDst := map[tableRef]bool{}
	for _, ref := range refs {
		db, tbl := e.router.Route(ref.Schema, ref.Name)
		p := srcDst{ref, tableRef{db, tbl}}
		selected[ref], cur[p], curDst[p.dst] = true, true, true
	}
	have := map[srcDst]string{}
	for _, r := range regs {
		have[r.srcDst] = r.state
	}
	owned := &ownedTables{}
	var add []srcDst
	for _, ref := range refs {
		db, tbl := e.router.Route(ref.Schema, ref.Name)
		p := srcDst{ref, tableRef{db, tbl}}
		if have[p] != tableCurrent {
			add = append(add, p)
		}
		owned.add(p)
	}
	if err := registerTargets(ctx, target, cfg, add); err != nil {
		return nil, err
	}
	var left []registration
	for _, r := range regs {
		if cur[r.srcDst] {
			continue
		}
		state := tableDeselected
		if selected[r.src] {
			state = tableOrphaned
		}
		exists, err := tableExists(ctx, target, r.dst)
		if err != nil {
			return nil, err
		}
		if !exists {
			if _, err := target.ExecContext(ctx, `DELETE FROM dmplan_meta.subtask_table WHERE task = ? AND source = ?
				AND src_schema = ? AND src_table = ? AND dst_schema = ? AND dst_table = ?`,
				cfg.Task, cfg.Source, r.src.Schema, r.src.Name, r.dst.Schema, r.dst.Name); err != nil {
				return nil, fmt.Errorf("forget target table %s of %s/%s: %w", r.dst, cfg.Task, cfg.Source, err)
			}
			continue
		}
		if r.state != state {
			if _, err := target.ExecContext(ctx, `INSERT INTO dmplan_meta.subtask_table
				(task, source, src_schema, src_table, dst_schema, dst_table, mode, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
				ON DUPLICATE KEY UPDATE state = VALUES(state)`,
				cfg.Task, cfg.Source, r.src.Schema, r.src.Name, r.dst.Schema, r.dst.Name, string(cfg.Mode), state); err != nil {
				return nil, fmt.Errorf("record target table %s of %s/%s as %s: %w", r.dst, cfg.Task, cfg.Source, state, err)
			}
		}
		r.state = state
		left = append(left, r)
	}
	orphaned := []string{}
	seen := map[tableRef]bool{}
	for _, r := range left {
		if r.state == tableOrphaned && !curDst[r.dst] && !seen[r.dst] {
			seen[r.dst] = true
			orphaned = append(orphaned, r.dst.Schema+"."+r.dst.Name)
		}
	}
	sort.Strings(orphaned)
	if len(orphaned) > 0 {
		e.log.Warn("target tables written under earlier routes are no longer written by this subtask; their rows stay",
			"tables", orphaned)
	}
	owned.orphaned = orphaned
	e.owned = owned
	return orphaned, nil
}

func tableExists(ctx context.Context, db querier, t tableRef) (bool, error) {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
		t.Schema, t.Name).Scan(&n); err != nil {
		return false, fmt.Errorf("look for %s on the target: %w", t, err)
	}
	return n > 0, nil
}

// writerRow is one recorded writer of a target table.
type writerRow struct {
	task, source string
	src          tableRef
	mode         string
	created      bool
}

// writersOf lists every recorded writer of dst: subtask_table rows in any
// state, and load_table rows (which subtasks that ran before
// subtask_table existed have).
func writersOf(ctx context.Context, db querier, dst tableRef) ([]writerRow, error) {
	rows, err := db.QueryContext(ctx, `SELECT task, source, src_schema, src_table, MAX(mode), MAX(created) FROM (
			SELECT task, source, src_schema, src_table, mode, 0 AS created FROM dmplan_meta.subtask_table
				WHERE dst_schema = ? AND dst_table = ?
			UNION ALL
			SELECT task, source, src_schema, src_table, '', created_target FROM dmplan_meta.load_table
				WHERE dst_schema = ? AND dst_table = ?) w
		GROUP BY task, source, src_schema, src_table ORDER BY task, source, src_schema, src_table`,
		dst.Schema, dst.Name, dst.Schema, dst.Name)
	if err != nil {
		return nil, fmt.Errorf("who writes into %s: %w", dst, err)
	}
	defer rows.Close()
	var out []writerRow
	for rows.Next() {
		var w writerRow
		if err := rows.Scan(&w.task, &w.source, &w.src.Schema, &w.src.Name, &w.mode, &w.created); err != nil {
			return nil, fmt.Errorf("who writes into %s: %w", dst, err)
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// tableFacts gathers what ownership.Decide needs about dst for a copy by
// this subtask of the source tables for which mine returns true: rows of
// those are its own; every other writer (other subtasks, and this
// subtask's other source tables unless mine says they are copied too) is
// one of Others.
func tableFacts(ctx context.Context, db querier, cfg Config, dst tableRef, mine func(src tableRef) bool) (ownership.Facts, error) {
	var f ownership.Facts
	exists, err := tableExists(ctx, db, dst)
	if err != nil || !exists {
		return f, err
	}
	f.Exists = true
	ws, err := writersOf(ctx, db, dst)
	if err != nil {
		return f, err
	}
	seen := map[string]bool{}
	for _, w := range ws {
		if w.task == cfg.Task && w.source == cfg.Source && mine(w.src) {
			f.Wrote = true
			f.Created = f.Created || w.created
			continue
		}
		o := ownership.Writer{Task: w.task, Source: w.source, Mode: w.mode}
		if w.task == cfg.Task && w.source == cfg.Source {
			o.Table = w.src.String()
		}
		if k := o.String(); !seen[k] {
			seen[k] = true
			f.Others = append(f.Others, o)
		}
	}
	var one int
	err = db.QueryRowContext(ctx, "SELECT 1 FROM "+dst.String()+" LIMIT 1").Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		f.Empty = true
	case err != nil:
		return f, fmt.Errorf("check %s: %w", dst, err)
	}
	return f, nil
}

// refusal is the permanent error of a copy that ownership.Decide refuses;
// what names the copy ("fresh start of shop/mysql-01").
func refusal(what string, cfg Config, dst tableRef, f ownership.Facts, a ownership.Action) error {
	if a == ownership.RefuseShared {
		return Permanent(fmt.Errorf("%s: target table %s is also written by %s; this subtask wrote rows into it too, and "+
			"its rows cannot be told from theirs, so the table is neither dropped nor emptied. Either delete this subtask's rows "+
			"from %s yourself, then delete the rows with task = '%s', source = '%s', dst_schema = '%s', dst_table = '%s' from "+
			"dmplan_meta.subtask_table and dmplan_meta.load_table (it then loads its rows beside theirs); or, if every writer "+
			"starts over too (they are all copied again), empty the table (TRUNCATE) and delete the rows with dst_schema = '%s' "+
			"and dst_table = '%s' from both tables. Then pause and resume the task",
			what, dst, ownership.Names(f.Others), dst, cfg.Task, cfg.Source, dst.Schema, dst.Name, dst.Schema, dst.Name))
	}
	return Permanent(fmt.Errorf("%s: target table %s holds rows this subtask did not create "+
		"(or other subtasks also write to it); empty it (TRUNCATE), then pause and resume the task", what, dst))
}
