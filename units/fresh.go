package units

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// freshKey hashes the parts of cfg whose change makes the subtask start
// over (planner.SubtaskEffect's EffectFresh): the mode, the routes (modes
// all and full) and the start position (mode incremental).
func freshKey(cfg Config) string {
	k := struct {
		Mode   Mode
		Routes []Route   `json:",omitempty"`
		Start  *Position `json:",omitempty"`
	}{Mode: cfg.Mode}
	if cfg.Mode == ModeIncremental {
		k.Start = &cfg.Start
	} else {
		k.Routes = cfg.Routes
		if k.Routes == nil {
			k.Routes = []Route{}
		}
	}
	b, _ := json.Marshal(k) // plain strings and numbers: cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// tablesKey is the stored form of the table filter.
func tablesKey(cfg Config) string {
	t := cfg.Tables
	if t == nil {
		t = []string{}
	}
	b, _ := json.Marshal(t)
	return string(b)
}

// subtaskConfig is a subtask_config row.
type subtaskConfig struct {
	freshKey string
	tables   []string
}

func readSubtaskConfig(ctx context.Context, target *sql.DB, task, source string) (subtaskConfig, bool, error) {
	var c subtaskConfig
	var tables string
	err := target.QueryRowContext(ctx, `SELECT fresh_key, tables FROM dmplan_meta.subtask_config WHERE task = ? AND source = ?`,
		task, source).Scan(&c.freshKey, &tables)
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("read configuration of %s/%s: %w", task, source, err)
	}
	if err := json.Unmarshal([]byte(tables), &c.tables); err != nil {
		return c, false, fmt.Errorf("read configuration of %s/%s: table filter: %w", task, source, err)
	}
	return c, true, nil
}

func writeSubtaskConfig(ctx context.Context, target *sql.DB, cfg Config) error {
	if _, err := target.ExecContext(ctx, `INSERT INTO dmplan_meta.subtask_config (task, source, fresh_key, tables) VALUES (?, ?, ?, ?)
		ON DUPLICATE KEY UPDATE fresh_key = VALUES(fresh_key), tables = VALUES(tables)`,
		cfg.Task, cfg.Source, freshKey(cfg), tablesKey(cfg)); err != nil {
		return fmt.Errorf("record configuration of %s/%s: %w", cfg.Task, cfg.Source, err)
	}
	return nil
}

// reconcileConfig compares cfg with the configuration the subtask's
// checkpoints belong to and acts on the difference, before any unit runs:
//
//   - nothing recorded (first run, or a subtask older than this record):
//     the checkpoints are taken as matching cfg;
//   - a different fresh key (mode, routes in modes all/full, start in mode
//     incremental): the subtask starts over (resetFresh);
//   - a different table filter in modes all/full: tables the filter newly
//     selects are dumped and loaded from a new snapshot (copyNewTables).
//
// The new configuration is recorded only once that succeeded, so an
// interrupted run does it again on its next start.
func (e *syncEnv) reconcileConfig(ctx context.Context, target *sql.DB, r Reporter) error {
	cfg := e.cfg
	if err := ensureMeta(ctx, target); err != nil {
		return err
	}
	old, ok, err := readSubtaskConfig(ctx, target, cfg.Task, cfg.Source)
	if err != nil {
		return err
	}
	switch {
	case !ok:
	case old.freshKey != freshKey(cfg):
		if err := e.resetFresh(ctx, target); err != nil {
			return err
		}
	case tablesKey(Config{Tables: old.tables}) != tablesKey(cfg) && cfg.Mode != ModeIncremental:
		if err := e.copyNewTables(ctx, target, old.tables, r); err != nil {
			return err
		}
	default:
		return nil
	}
	return writeSubtaskConfig(ctx, target, cfg)
}

// resetFresh starts the subtask over. Modes all and full: the target
// tables it is about to load are emptied first (dropped when this subtask
// alone created them; an empty table is kept; any other table stops the
// run with a permanent error), then every dump/load and sync checkpoint is
// deleted. Mode incremental copies no rows: only the sync checkpoint is
// deleted, and rows already in the target stay. Every step can be run
// again after a crash: a dropped table is absent, deleted rows stay
// deleted.
func (e *syncEnv) resetFresh(ctx context.Context, target *sql.DB) error {
	cfg := e.cfg
	if cfg.Mode == ModeIncremental {
		e.log.Info("configuration changed (mode or start position): sync starts over, rows already in the target stay")
		return ResetSync(ctx, target, cfg.Task, cfg.Source)
	}
	e.log.Info("configuration changed (mode or routes): the subtask starts over from a new dump")
	dsts, err := e.selectedTargets(ctx)
	if err != nil {
		return err
	}
	var drop []tableRef
	for _, dst := range dsts {
		d, err := freshTableAction(ctx, target, cfg, dst)
		if err != nil {
			return err
		}
		if d {
			drop = append(drop, dst)
		}
	}
	for _, dst := range drop {
		if _, err := target.ExecContext(ctx, "DROP TABLE IF EXISTS "+dst.String()); err != nil {
			return fmt.Errorf("fresh start of %s/%s: drop %s: %w", cfg.Task, cfg.Source, dst, err)
		}
		e.log.Info("fresh start: dropped the target table this subtask created; it is created again from the source", "table", dst.String())
	}
	if err := ResetDumpLoad(ctx, target, cfg.Task, cfg.Source); err != nil {
		return err
	}
	return ResetSync(ctx, target, cfg.Task, cfg.Source)
}

// selectedTargets lists the target tables the subtask loads: the routed
// names of the source tables the filter selects.
func (e *syncEnv) selectedTargets(ctx context.Context) ([]tableRef, error) {
	src, err := Open(e.cfg.From, 1)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	refs, err := listTables(ctx, src, e.filter.Match)
	if err != nil {
		return nil, err
	}
	seen := map[tableRef]bool{}
	var out []tableRef
	for _, ref := range refs {
		db, tbl := e.router.Route(ref.Schema, ref.Name)
		dst := tableRef{db, tbl}
		if !seen[dst] {
			seen[dst] = true
			out = append(out, dst)
		}
	}
	return out, nil
}

// freshTableAction decides what a fresh start does with target table dst:
// drop it (this subtask created it and no other subtask loads into it),
// keep it (absent or empty), or refuse (a permanent error).
func freshTableAction(ctx context.Context, target *sql.DB, cfg Config, dst tableRef) (drop bool, err error) {
	var n int
	if err := target.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
		dst.Schema, dst.Name).Scan(&n); err != nil {
		return false, fmt.Errorf("fresh start: look for %s on the target: %w", dst, err)
	}
	if n == 0 {
		return false, nil
	}
	var mine, others int
	if err := target.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(task = ? AND source = ? AND created_target = 1), 0),
		COALESCE(SUM(NOT (task = ? AND source = ?)), 0)
		FROM dmplan_meta.load_table WHERE dst_schema = ? AND dst_table = ?`,
		cfg.Task, cfg.Source, cfg.Task, cfg.Source, dst.Schema, dst.Name).Scan(&mine, &others); err != nil {
		return false, fmt.Errorf("fresh start: who loads %s: %w", dst, err)
	}
	if mine > 0 && others == 0 {
		return true, nil
	}
	var one int
	err = target.QueryRowContext(ctx, "SELECT 1 FROM "+dst.String()+" LIMIT 1").Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("fresh start: check %s: %w", dst, err)
	}
	return false, Permanent(fmt.Errorf("fresh start of %s/%s: target table %s holds rows this subtask did not create "+
		"(or other subtasks also write to it); empty it (TRUNCATE), then pause and resume the task", cfg.Task, cfg.Source, dst))
}
