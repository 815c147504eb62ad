package units

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Every loaded chunk holds a source table's rows as of one snapshot. When
// a load runs without interruption every chunk comes from the same
// snapshot P and sync simply starts at P. When a load is interrupted
// (crash, cancel, lost source connection) and resumed, the chunks not yet
// loaded are read from a new snapshot P2 > P1, so one table may hold rows
// as of P1 and rows as of P2. Its window says what sync does with it:
//
//	event at or before From  : skip it (every chunk already has it)
//	event in (From, Until]   : apply it idempotently (some chunks have it)
//	event after Until        : apply it exactly once, as usual
//
// A table without a usable key is always one chunk, so its From equals
// its Until: it never needs the idempotent window.

// tableWindow is the range of snapshots one source table's rows came from.
type tableWindow struct {
	Schema, Table string   // the source table
	From, Until   Position // oldest and newest snapshot of its loaded chunks
}

// eventAction is what sync does with a row change or DDL of a table.
type eventAction int

const (
	// eventApply: apply exactly once (the event is newer than every chunk).
	eventApply eventAction = iota
	// eventSkip: every loaded row already includes it.
	eventSkip
	// eventIdempotent: some chunks include it, some do not: apply it so
	// that a second application changes nothing (insert as REPLACE,
	// update as delete-before plus REPLACE-after, delete if present).
	eventIdempotent
)

func (a eventAction) String() string {
	switch a {
	case eventSkip:
		return "skip"
	case eventIdempotent:
		return "idempotent"
	}
	return "apply"
}

// loadWindows are the windows of every table of a subtask's finished load.
type loadWindows struct {
	Start  Position // where sync starts: the oldest From
	Until  Position // the newest Until: past it no window matters
	tables map[tableRef]tableWindow
}

// Tables returns the windows, in no particular order.
func (w *loadWindows) Tables() []tableWindow {
	out := make([]tableWindow, 0, len(w.tables))
	for _, t := range w.tables {
		out = append(out, t)
	}
	return out
}

// Decide says what to do with an event of source table schema.table that
// ends at pos (the binlog file and the end position of the event, as
// go-mysql's EventHeader.LogPos gives it). Tables without a window
// (created after the snapshot, or not loaded) are applied.
func (w *loadWindows) Decide(schema, table string, pos Position) eventAction {
	if w == nil {
		return eventApply
	}
	t, ok := w.tables[tableRef{schema, table}]
	if !ok {
		return eventApply
	}
	switch {
	case ComparePositions(pos, t.From) <= 0:
		return eventSkip
	case ComparePositions(pos, t.Until) <= 0:
		return eventIdempotent
	}
	return eventApply
}

// ComparePositions orders two file:pos positions of the same server's
// binlog: negative when a is before b, 0 when equal, positive after.
// Files compare by their numeric extension (mysql-bin.000010 after
// mysql-bin.000009, and .1000000 after .999999).
func ComparePositions(a, b Position) int {
	if c := compareBinlogFiles(a.File, b.File); c != 0 {
		return c
	}
	switch {
	case a.Pos < b.Pos:
		return -1
	case a.Pos > b.Pos:
		return 1
	}
	return 0
}

func compareBinlogFiles(a, b string) int {
	if a == b {
		return 0
	}
	ea, eb := strings.TrimPrefix(filepath.Ext(a), "."), strings.TrimPrefix(filepath.Ext(b), ".")
	na, erra := strconv.ParseUint(ea, 10, 64)
	nb, errb := strconv.ParseUint(eb, 10, 64)
	if erra == nil && errb == nil && na != nb {
		if na < nb {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// readLoadWindows reads the windows of a subtask's load from the target's
// dmplan_meta. The sync unit calls it when it starts from a load (also
// after its own restarts, until its checkpoint has passed Until). A
// subtask without a load gets empty windows: every event is applied.
func readLoadWindows(ctx context.Context, target *sql.DB, task, source string) (*loadWindows, error) {
	if err := ensureMetaFor(ctx, target, ModeFull); err != nil { // the windows are in the copy's tables
		return nil, err
	}
	return loadWindowsOf(ctx, target, task, source)
}

// loadWindowsOf is readLoadWindows where dmplan_meta is known to exist (a
// load that just wrote its checkpoints).
func loadWindowsOf(ctx context.Context, target *sql.DB, task, source string) (*loadWindows, error) {
	snaps, err := snapshotPositions(ctx, target, task, source)
	if err != nil {
		return nil, err
	}
	rows, err := target.QueryContext(ctx, `SELECT src_schema, src_table, MIN(snapshot_id), MAX(snapshot_id)
		FROM dmplan_meta.load_chunk WHERE task = ? AND source = ? AND done = 1
		GROUP BY src_schema, src_table`, task, source)
	if err != nil {
		return nil, fmt.Errorf("read load windows of %s/%s: %w", task, source, err)
	}
	defer rows.Close()
	w := &loadWindows{tables: map[tableRef]tableWindow{}}
	for rows.Next() {
		var t tableWindow
		var lo, hi uint32
		if err := rows.Scan(&t.Schema, &t.Table, &lo, &hi); err != nil {
			return nil, fmt.Errorf("read load windows of %s/%s: %w", task, source, err)
		}
		var ok1, ok2 bool
		t.From, ok1 = snaps[lo]
		t.Until, ok2 = snaps[hi]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("read load windows of %s/%s: chunks of %s refer to a snapshot missing from dmplan_meta.dump_snapshot",
				task, source, quoteTable(t.Schema, t.Table))
		}
		w.tables[tableRef{t.Schema, t.Table}] = t
		if w.Start.IsZero() || ComparePositions(t.From, w.Start) < 0 {
			w.Start = t.From
		}
		if ComparePositions(t.Until, w.Until) > 0 {
			w.Until = t.Until
		}
	}
	return w, rows.Err()
}
