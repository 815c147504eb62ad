package units

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dmplan/dmplan/internal/binlogfilter"
	"github.com/dmplan/dmplan/internal/effect"
	"github.com/dmplan/dmplan/internal/ownership"
)

// EffectConfig is what internal/effect's rule reads of cfg (passwords
// left out: the units' record never holds them).
func EffectConfig(cfg Config) effect.Config {
	c := effect.Config{Mode: effect.Mode(cfg.Mode), Flavor: cfg.Flavor, Tables: cfg.Tables,
		Source:      effect.Endpoint{Host: cfg.From.Host, Port: cfg.From.Port, User: cfg.From.User},
		Target:      effect.Endpoint{Host: cfg.To.Host, Port: cfg.To.Port, User: cfg.To.User},
		DumpThreads: cfg.DumpThreads, SyncWorkers: cfg.SyncWorkers, SyncBatch: cfg.SyncBatch,
		AcceptLostCascades: cfg.AcceptLostCascades, Validate: cfg.Validate,
		Filters: binlogfilter.Key(cfg.Filters), OnlineDDL: cfg.OnlineDDL.Key()}
	for _, r := range cfg.Routes {
		c.Routes = append(c.Routes, effect.Route{From: r.From, To: r.To})
	}
	if !cfg.Start.IsZero() || !cfg.StartTime.IsZero() {
		c.Start = &effect.Position{File: cfg.Start.File, Pos: cfg.Start.Pos, GTID: cfg.Start.GTID}
		if !cfg.StartTime.IsZero() {
			c.Start.Time = cfg.StartTime.UTC().Format(time.RFC3339Nano)
		}
	}
	return c
}

// freshKey is effect.FreshKey of cfg: it changes exactly with the changes
// that make the subtask start over (effect.Fresh) and that the record in
// the target can see.
func freshKey(cfg Config) string { return effect.FreshKey(EffectConfig(cfg)) }

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
// checkpoints belong to and acts on the difference (effect.ResumeOf, the
// rule the plan's impact lines follow), before any unit runs:
//
//   - nothing recorded (first run, or a subtask older than this record):
//     the checkpoints are taken as matching cfg;
//   - a different fresh key (mode, routes in modes all/full, start in mode
//     incremental): the subtask starts over (resetFresh);
//   - a different table filter in modes all/full: tables the filter newly
//     selects, or selects again after leaving them out, are dumped and
//     loaded from a new snapshot (copyNewTables).
//
// Then, whatever changed, it registers the target tables the subtask
// writes into (registerTables). The new configuration is recorded only
// once all that succeeded, so an interrupted run does it again on its
// next start.
func (e *syncEnv) reconcileConfig(ctx context.Context, target *sql.DB, r Reporter) error {
	cfg := e.cfg
	st := newSteps()
	defer st.log(e.log, "configuration steps")
	if !e.metaReady {
		if err := ensureMetaFor(ctx, target, cfg.Mode); err != nil {
			return err
		}
		st.mark("meta")
	}
	old, ok, err := readSubtaskConfig(ctx, target, cfg.Task, cfg.Source)
	if err != nil {
		return err
	}
	st.mark("read")
	refs, err := e.selectedTables(ctx)
	if err != nil {
		return err
	}
	st.mark("list")
	var rec *effect.Record
	if ok {
		rec = &effect.Record{FreshKey: old.freshKey, Tables: old.tables}
	}
	changed := true
	switch effect.ResumeOf(rec, EffectConfig(cfg)) {
	case effect.ResumeFirst:
	case effect.ResumeStartOver:
		if err := e.resetFresh(ctx, target, refs); err != nil {
			return err
		}
	case effect.ResumeCopyNewTables:
		if err := e.copyNewTables(ctx, target, old.tables, refs, r); err != nil {
			return err
		}
	case effect.ResumeRecordTables:
	default:
		changed = false
	}
	st.mark("resume")
	orphaned, err := e.registerTables(ctx, target, refs)
	if err != nil {
		return err
	}
	st.mark("register")
	r.Report(Progress{Orphaned: orphaned})
	if !changed {
		return nil
	}
	return writeSubtaskConfig(ctx, target, cfg)
}

// resetFresh starts the subtask over. Modes all and full: each target
// table it is about to load is first dealt with as ownership.Decide says
// (dropped when this subtask alone writes into it and created it; kept
// when absent or empty, or when other subtasks write into it and this
// one never did; otherwise a permanent error), then every dump/load and
// sync checkpoint is deleted. Mode incremental copies no rows: only the
// sync checkpoint is deleted, and rows already in the target stay. Every
// step can be run again after a crash: a dropped table is absent,
// deleted rows stay deleted.
func (e *syncEnv) resetFresh(ctx context.Context, target *sql.DB, refs []tableRef) error {
	cfg := e.cfg
	if cfg.Mode == ModeIncremental {
		e.log.Info("configuration changed (mode or start position): sync starts over, rows already in the target stay")
		return ResetSync(ctx, target, cfg.Task, cfg.Source)
	}
	e.log.Info("configuration changed (mode or routes): the subtask starts over from a new dump")
	var drop []tableRef
	what := "fresh start of " + cfg.Task + "/" + cfg.Source
	for _, dst := range e.targetsOf(refs) {
		f, err := tableFacts(ctx, target, cfg, dst, func(tableRef) bool { return true })
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		switch a := ownership.Decide(f); a {
		case ownership.Drop:
			drop = append(drop, dst)
		case ownership.LoadBeside:
			e.log.Info("fresh start: the target table is shared and this subtask wrote none of its rows: nothing is removed, "+
				"its rows are loaded beside the others'", "table", dst.String(), "others", ownership.Names(f.Others))
		case ownership.RefuseShared, ownership.RefuseForeign:
			return refusal(what, cfg, dst, f, a)
		}
	}
	for _, dst := range drop {
		if _, err := target.ExecContext(ctx, "DROP TABLE IF EXISTS "+dst.String()); err != nil {
			return fmt.Errorf("%s: drop %s: %w", what, dst, err)
		}
		e.log.Info("fresh start: dropped the target table this subtask created; it is created again from the source", "table", dst.String())
	}
	if err := ResetDumpLoad(ctx, target, cfg.Task, cfg.Source); err != nil {
		return err
	}
	return ResetSync(ctx, target, cfg.Task, cfg.Source)
}

// selectedTables lists the source tables the filter selects.
func (e *syncEnv) selectedTables(ctx context.Context) ([]tableRef, error) {
	src, err := Open(e.cfg.From, 1)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	refs, err := listTables(ctx, src, e.filter.Match)
	if err != nil {
		return nil, fmt.Errorf("source %s (%s): %w", e.cfg.Source, e.cfg.From, err)
	}
	return refs, nil
}

// targetsOf lists the target tables refs are routed to, in order, once each.
func (e *syncEnv) targetsOf(refs []tableRef) []tableRef {
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
	return out
}
