package refresh

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/dmplan/dmplan/internal/tablefilter"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
	"github.com/dmplan/dmplan/units"
	"github.com/dmplan/dmplan/units/relay"
)

// CopyRate is the full-copy rate dmplan measured (docs/units.md, Figures:
// bench/fullcopy, 8 sysbench tables on a 2-core VM), in rows/s. Copy times
// are estimated with it.
const CopyRate = 245000

// maxTables bounds the per-table reads (keys, drift, target rows) of one
// subtask; the lists themselves are complete.
const maxTables = 200

// Input is what Gather needs: the plan, the state it was computed from,
// and how to read password variables.
type Input struct {
	Plan    *planner.Plan
	Current planner.State
	Hasher  *spec.Hasher
	Getenv  func(string) (string, bool)
	Timeout time.Duration // per server connection (default 5s)
}

// Gather reads the facts of every subtask a change creates, updates or
// replaces. It never writes.
func Gather(ctx context.Context, in Input) *planner.Refresh {
	if in.Timeout <= 0 {
		in.Timeout = 5 * time.Second
	}
	out := &planner.Refresh{Subtasks: []planner.SubtaskFacts{}}
	desired, current := in.Plan.Desired.Subtasks(), in.Current.Subtasks()
	seen := map[string]bool{}
	for _, c := range in.Plan.Changes {
		if c.Kind != planner.KindSubtask || c.Action == planner.Delete || seen[c.Name] {
			continue
		}
		seen[c.Name] = true
		task, source, _ := strings.Cut(c.Name, "/")
		id := planner.SubtaskID{Task: task, Source: source}
		sub, ok := desired[id]
		if !ok {
			continue
		}
		var old *planner.Subtask
		if o, ok := current[id]; ok {
			old = &o
		}
		facts, err := gatherOne(ctx, in, sub, old)
		if err != nil {
			out.Errors = append(out.Errors, fmt.Sprintf("subtask %s: %v", c.Name, err))
		}
		out.Subtasks = append(out.Subtasks, facts)
	}
	gatherRelays(ctx, in, out, desired)
	sort.Slice(out.Subtasks, func(i, j int) bool { return out.Subtasks[i].Subtask < out.Subtasks[j].Subtask })
	return out
}

func gatherOne(ctx context.Context, in Input, sub planner.Subtask, old *planner.Subtask) (planner.SubtaskFacts, error) {
	f := planner.SubtaskFacts{Subtask: sub.Task + "/" + sub.Source}
	srcSpec := in.Plan.Desired.Sources[sub.Source]
	from, err := Endpoint(srcSpec.Endpoint, "source "+sub.Source, in.Hasher, in.Getenv)
	if err != nil {
		return f, err
	}
	to, err := Endpoint(sub.Target, "the target of task "+sub.Task, in.Hasher, in.Getenv)
	if err != nil {
		return f, err
	}
	src := connect(ctx, from, in.Timeout, "source "+sub.Source, &f)
	dst := connect(ctx, to, in.Timeout, "target of task "+sub.Task, &f)
	if src != nil {
		defer src.Close()
	}
	if dst != nil {
		defer dst.Close()
	}
	if src == nil {
		return f, nil
	}
	cfg := units.Config{Task: sub.Task, Source: sub.Source, Mode: units.Mode(sub.Mode), From: from, To: to,
		Flavor: string(srcSpec.Flavor), Tables: sub.Tables, AcceptLostCascades: sub.AcceptLostCascades}
	for _, r := range sub.Routes {
		cfg.Routes = append(cfg.Routes, units.Route{From: r.From, To: r.To})
	}
	newF, err := tablefilter.Parse(sub.Tables)
	if err != nil {
		return f, err
	}
	oldF := tablefilter.Filter{}
	if old != nil {
		if oldF, err = tablefilter.Parse(old.Tables); err != nil {
			return f, err
		}
	}
	routes := make([]tablefilter.Route, len(sub.Routes))
	for i, r := range sub.Routes {
		routes[i] = tablefilter.Route{From: r.From, To: r.To}
	}
	router, err := tablefilter.ParseRoutes(routes)
	if err != nil {
		return f, err
	}
	all, err := units.ListTables(ctx, src, func(db, t string) bool { return newF.Match(db, t) || (old != nil && oldF.Match(db, t)) })
	if err != nil {
		return f, err
	}
	est, err := estimates(ctx, src)
	if err != nil {
		return f, err
	}
	var selected []units.TableName
	for _, t := range all {
		inNew, inOld := newF.Match(t.Schema, t.Name), old != nil && oldF.Match(t.Schema, t.Name)
		tf := est[t]
		tf.Table = t.Schema + "." + t.Name
		if db, tb := router.Route(t.Schema, t.Name); db != t.Schema || tb != t.Name {
			tf.Target = db + "." + tb
		}
		switch {
		case inNew && !inOld:
			f.Selected = append(f.Selected, tf)
		case inOld && !inNew:
			f.Deselected = append(f.Deselected, tf)
		}
		if inNew {
			selected = append(selected, t)
		}
	}
	copies := sub.Mode != spec.ModeIncremental
	if copies && len(f.Selected) > 0 {
		var rows int64
		for _, t := range f.Selected {
			rows += t.Rows
		}
		f.CopySeconds, f.CopyRate = float64(rows)/CopyRate, CopyRate
	}
	fails, err := units.PrecheckSource(ctx, src, cfg)
	if err != nil {
		return f, err
	}
	for _, m := range fails {
		f.Checks = append(f.Checks, planner.Check{Level: "error", Message: m})
	}
	if sub.Start != nil && sub.Start.BinlogFile != "" && old == nil {
		if ok, err := binlogPresent(ctx, src, sub.Start.BinlogFile); err != nil {
			return f, err
		} else if !ok {
			f.Checks = append(f.Checks, planner.Check{Level: "error", Message: fmt.Sprintf(
				"start %s:%d: the source no longer has binlog file %s (purged): start from a position it still has, or use mode all", sub.Start.BinlogFile, sub.Start.BinlogPos, sub.Start.BinlogFile)})
		}
	}
	newly := map[units.TableName]bool{}
	for _, t := range f.Selected {
		db, tb, _ := strings.Cut(t.Table, ".")
		newly[units.TableName{Schema: db, Name: tb}] = true
	}
	for i, t := range selected {
		if i >= maxTables {
			break
		}
		def, err := units.ReadTable(ctx, src, t.Schema, t.Name)
		if err != nil {
			return f, err
		}
		if def.PK == nil && newly[t] {
			f.Checks = append(f.Checks, planner.Check{Level: "warning", Message: fmt.Sprintf(
				"table %s has no primary key or NOT NULL unique key: sync finds its rows by every column (slow), a copy is one chunk, verify compares it whole: add a key", t)})
		}
		if dst == nil {
			continue
		}
		db, tb := router.Route(t.Schema, t.Name)
		tdef, err := units.ReadTable(ctx, dst, db, tb)
		if err != nil {
			continue // not on the target yet: the copy creates it
		}
		if d := columnDrift(def, tdef); d != "" {
			f.Drift = append(f.Drift, fmt.Sprintf("target table %s.%s: %s", db, tb, d))
		}
		if copies && newly[t] {
			var one int
			err := dst.QueryRowContext(ctx, "SELECT 1 FROM "+units.QuoteIdent(db)+"."+units.QuoteIdent(tb)+" LIMIT 1").Scan(&one)
			if err == nil {
				f.Checks = append(f.Checks, planner.Check{Level: "error", Message: fmt.Sprintf(
					"target table %s.%s already has rows: the copy of %s adds its rows and stops at the first duplicate key: empty the target table, or exclude %s", db, tb, t, t)})
			}
		}
	}
	if dst != nil {
		if err := foreignKeys(ctx, src, dst, cfg, &f); err != nil {
			return f, err
		}
		fails, err := units.PrecheckTargetGrants(ctx, dst, cfg)
		if err != nil {
			return f, err
		}
		for _, m := range fails {
			f.Checks = append(f.Checks, planner.Check{Level: "error", Message: m})
		}
	}
	return f, nil
}

// connect opens and pings a server; an unreachable one is drift, not an
// error of the refresh.
func connect(ctx context.Context, ep units.Endpoint, timeout time.Duration, what string, f *planner.SubtaskFacts) *sql.DB {
	db, err := units.Open(ep, 2)
	if err == nil {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err = db.PingContext(pctx)
		cancel()
		if err != nil {
			db.Close()
		}
	}
	if err != nil {
		f.Drift = append(f.Drift, fmt.Sprintf("%s (%s) is unreachable: %v", what, ep, err))
		return nil
	}
	return db
}

// estimates reads information_schema's row and byte estimates of every
// table.
func estimates(ctx context.Context, db *sql.DB) (map[units.TableName]planner.TableFacts, error) {
	rows, err := db.QueryContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME, IFNULL(TABLE_ROWS, 0), IFNULL(DATA_LENGTH, 0) + IFNULL(INDEX_LENGTH, 0)
		FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE'`)
	if err != nil {
		return nil, fmt.Errorf("read table estimates: %w", err)
	}
	defer rows.Close()
	out := map[units.TableName]planner.TableFacts{}
	for rows.Next() {
		var n units.TableName
		var tf planner.TableFacts
		if err := rows.Scan(&n.Schema, &n.Name, &tf.Rows, &tf.Bytes); err != nil {
			return nil, fmt.Errorf("read table estimates: %w", err)
		}
		out[n] = tf
	}
	return out, rows.Err()
}

func binlogPresent(ctx context.Context, db *sql.DB, file string) (bool, error) {
	rows, err := db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return false, fmt.Errorf("list binary logs: %w", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return false, fmt.Errorf("list binary logs: %w", err)
		}
		if string(vals[0]) == file {
			return true, nil
		}
	}
	return false, rows.Err()
}

// columnDrift says how the target's written columns differ from the
// source's (names, order and types), "" when they do not.
func columnDrift(src, dst *units.Table) string {
	s, d := src.WritableColumns(), dst.WritableColumns()
	var diffs []string
	for _, c := range s {
		tc := dst.Column(c.Name)
		switch {
		case tc == nil:
			diffs = append(diffs, "lacks "+c.Name)
		case tc.ColumnType != c.ColumnType:
			diffs = append(diffs, fmt.Sprintf("%s is %s, the source's %s", c.Name, tc.ColumnType, c.ColumnType))
		}
	}
	for _, c := range d {
		if src.Column(c.Name) == nil {
			diffs = append(diffs, "has "+c.Name+" the source lacks")
		}
	}
	if len(diffs) == 0 && len(s) == len(d) {
		for i := range s {
			if s[i].Name != d[i].Name {
				diffs = append(diffs, "columns are in another order")
				break
			}
		}
	}
	return strings.Join(diffs, "; ")
}

// foreignKeys runs the units' foreign-key check (docs/units.md, "Foreign
// keys") and records its result: the keys the target cannot reproduce are
// precheck errors, the rest a fact.
func foreignKeys(ctx context.Context, src, dst *sql.DB, cfg units.Config, f *planner.SubtaskFacts) error {
	r, err := units.CheckCascades(ctx, src, dst, cfg)
	if err != nil {
		return fmt.Errorf("check foreign keys: %w", err)
	}
	if r.Keys == 0 && len(r.Accepted) == 0 {
		return nil
	}
	f.ForeignKeys = &planner.ForeignKeyFacts{Cascading: r.Keys, Unreproduced: len(r.Problems), Accepted: r.Accepted}
	for _, m := range r.Problems {
		f.Checks = append(f.Checks, planner.Check{Level: "error", Message: m})
	}
	return nil
}

// gatherRelays checks, for every source with its relay on that a change
// binds to an agent (a failover, a pin, a new source) or whose relay it
// turns on, where that agent's relay will start: each subtask's checkpoint,
// read from its target, against the source's binlog files (docs/relay.md,
// "Failover"). A file the source no longer has is a precheck error.
func gatherRelays(ctx context.Context, in Input, out *planner.Refresh, desired map[planner.SubtaskID]planner.Subtask) {
	sources := map[string]bool{}
	for _, c := range in.Plan.Changes {
		src, ok := in.Plan.Desired.Sources[c.Name]
		if !ok || !src.RelayOn() || c.Action == planner.Delete {
			continue
		}
		old, had := in.Current.Sources[c.Name]
		if c.Kind == planner.KindBound || (c.Kind == planner.KindSource && (!had || !old.RelayOn())) {
			sources[c.Name] = true
		}
	}
	var ids []planner.SubtaskID
	for id := range desired {
		if sources[id.Source] {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	for _, id := range ids {
		i := slices.IndexFunc(out.Subtasks, func(f planner.SubtaskFacts) bool { return f.Subtask == id.String() })
		if i < 0 {
			out.Subtasks = append(out.Subtasks, planner.SubtaskFacts{Subtask: id.String()})
			i = len(out.Subtasks) - 1
		}
		if err := relayStart(ctx, in, desired[id], &out.Subtasks[i]); err != nil {
			out.Errors = append(out.Errors, fmt.Sprintf("subtask %s: relay: %v", id, err))
		}
	}
}

// relayStart checks that the source still has the file of the subtask's
// checkpoint, where a relay started for it begins.
func relayStart(ctx context.Context, in Input, sub planner.Subtask, f *planner.SubtaskFacts) error {
	srcSpec := in.Plan.Desired.Sources[sub.Source]
	from, err := Endpoint(srcSpec.Endpoint, "source "+sub.Source, in.Hasher, in.Getenv)
	if err != nil {
		return err
	}
	to, err := Endpoint(sub.Target, "the target of task "+sub.Task, in.Hasher, in.Getenv)
	if err != nil {
		return err
	}
	qctx, cancel := context.WithTimeout(ctx, 2*in.Timeout)
	defer cancel()
	need, ok, err := units.RelayNeed(qctx, units.Config{Task: sub.Task, Source: sub.Source, Mode: units.Mode(sub.Mode), From: from, To: to})
	if err != nil || !ok {
		return err // no checkpoint yet: the relay starts where the subtask will
	}
	src, err := units.Open(from, 1)
	if err != nil {
		return err
	}
	defer src.Close()
	files, err := units.BinlogFiles(qctx, src)
	if err != nil || len(files) == 0 || slices.Contains(files, need.File) || relay.CompareFiles(need.File, files[len(files)-1]) > 0 {
		return err
	}
	f.Checks = append(f.Checks, planner.Check{Level: "error", Message: fmt.Sprintf(
		"relay: the relay of the agent serving source %s starts at this subtask's checkpoint %s:%d (read from the target), and the source no longer has %s (purged; its oldest is %s): "+
			"unless that agent's relay directory still holds it, the subtask stops with a permanent error (docs/relay.md, \"Failover\"); "+
			"keep the source on the agent that holds its relay, or restart the task from a fresh dump or a start position the source still has",
		sub.Source, need.File, need.Pos, need.File, files[0])})
	return nil
}
