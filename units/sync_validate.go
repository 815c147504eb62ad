package units

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Continuous validation (Config.Validate, docs/validate.md), after DM's
// validator. When a worker has committed a batch, the rows it touched are
// handed to the validator with the state the binlog says they are in now:
// present with the after-image (insert, update), or absent (delete, the
// old key of an update that changed it). The validator reads them back
// from the target by key, in batches per table, and compares: mode fast
// whether each row is there or not, mode full every column too
// (sync_validate_value.go).
//
// Only committed rows are read, so a row differs only when the target
// was changed behind dmplan's back, or when a later change to the same
// row is committed but not yet handed over: a row that differs is checked
// again a few times over a few seconds (a newer image replaces the one
// being checked), and only then recorded in dmplan_meta.validation_error
// with its key, what differs and the binlog position of its last change.
// Validation never stops sync and never repairs a row: `dmplan verify
// --fix-sql` writes the statements that would.
//
// The backlog is bounded (validateMaxPending rows): rows applied while it
// is full are counted as skipped, as are rows of tables without a NOT
// NULL unique key and rows of a table a DDL changed before they were read.

const (
	validateMaxPending = 100_000 // rows waiting to be checked
	validateBatch      = 500     // keys per SELECT
	validateTick       = 100 * time.Millisecond
	validateChecks     = 5                      // checks before a row is recorded as differing
	validateFirstRetry = 250 * time.Millisecond // doubled after each check
	validateMaxStored  = 10_000                 // rows kept in validation_error per subtask
	validateShown      = 20                     // rows reported in Progress
)

// vkey identifies a row: its target table and its key's hash (the one
// causality uses, which folds text as the key's collation does).
type vkey struct {
	table string
	hash  uint64
}

// vrow is a row waiting to be checked: the state it must have.
type vrow struct {
	tbl     *syncTable
	row     []any // the image holding the key (and, mode full, every column)
	present bool
	file    string
	pos     uint32
	gen     uint64 // bumped when a newer change replaces the image
	checks  int
	due     time.Time
}

// validator checks the rows one sync unit run applied.
type validator struct {
	full         bool
	task, source string
	log          *slog.Logger
	db           *sql.DB
	flavor       string // the target's, for CompareExpr

	mu      sync.Mutex
	pending map[vkey]*vrow
	gen     uint64
	stored  map[string]bool // table + "\x00" + key of rows in validation_error
	over    int64           // failed rows not stored (past validateMaxStored)
	recent  []ValidationRow // latest failures first
	loaded  bool

	checked, skipped atomic.Int64
	wake             chan struct{}
	barrier          chan chan struct{}
}

func newValidator(cfg Config, db *sql.DB, log *slog.Logger) *validator {
	return &validator{
		full: cfg.Validate == "full", task: cfg.Task, source: cfg.Source, log: log, db: db,
		pending: map[vkey]*vrow{}, stored: map[string]bool{},
		wake: make(chan struct{}, 1), barrier: make(chan chan struct{}),
	}
}

// mode is the mode's name for reports.
func (v *validator) mode() string {
	if v.full {
		return "full"
	}
	return "fast"
}

// add takes the changes a worker has just committed.
func (v *validator) add(changes []*syncChange) {
	now := time.Now()
	v.mu.Lock()
	for _, c := range changes {
		t := c.tbl
		if t.key == nil {
			v.skipped.Add(1)
			continue
		}
		switch c.kind {
		case changeInsert:
			v.expect(t, c.after, true, c, now)
		case changeDelete:
			v.expect(t, c.before, false, c, now)
		case changeUpdate:
			hb, _ := keyHash(t, t.keyIdx, t.key, c.before)
			ha, _ := keyHash(t, t.keyIdx, t.key, c.after)
			if hb != ha {
				v.expect(t, c.before, false, c, now)
			}
			v.expect(t, c.after, true, c, now)
		}
	}
	n := len(v.pending)
	v.mu.Unlock()
	if n >= validateBatch {
		select {
		case v.wake <- struct{}{}:
		default:
		}
	}
}

// expect records the state a row must be in (v.mu held).
func (v *validator) expect(t *syncTable, row []any, present bool, c *syncChange, now time.Time) {
	h, ok := keyHash(t, t.keyIdx, t.key, row)
	if !ok {
		v.skipped.Add(1)
		return
	}
	k := vkey{t.quoted, h}
	r := v.pending[k]
	if r == nil {
		if len(v.pending) >= validateMaxPending {
			v.skipped.Add(1)
			return
		}
		r = &vrow{}
		v.pending[k] = r
	}
	if !v.full && present {
		row = keyOnly(t, row)
	}
	v.gen++
	*r = vrow{tbl: t, row: row, present: present, file: c.file, pos: c.seq.Pos, gen: v.gen, due: now}
}

// keyOnly keeps the key's values of row (mode fast holds no more).
func keyOnly(t *syncTable, row []any) []any {
	out := make([]any, len(row))
	for _, k := range t.key {
		out[k] = row[k]
	}
	return out
}

// run checks rows until ctx ends.
func (v *validator) run(ctx context.Context) {
	tick := time.NewTicker(validateTick)
	defer tick.Stop()
	for {
		var done chan struct{}
		select {
		case <-ctx.Done():
			// One last look at what was applied (no retries).
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			v.pass(fctx, true)
			cancel()
			return
		case <-tick.C:
		case <-v.wake:
		case done = <-v.barrier:
		}
		if !v.loaded {
			if err := v.load(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				v.log.Warn("validation: read the recorded differences", "err", err)
			}
		}
		v.pass(ctx, done != nil)
		if done != nil {
			close(done)
		}
	}
}

// settle checks every pending row once more before a DDL changes a table
// (or gives up after a while); rows still differing stay pending.
func (v *validator) settle(ctx context.Context) {
	done := make(chan struct{})
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case v.barrier <- done:
	case <-t.C:
		return
	case <-ctx.Done():
		return
	}
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
	}
}

// check is one row being checked in a pass.
type check struct {
	k vkey
	r vrow // a copy: the pending entry may be replaced meanwhile
}

// pass checks the rows that are due (all rows when all is set).
func (v *validator) pass(ctx context.Context, all bool) {
	now := time.Now()
	byTable := map[*syncTable][]check{}
	var order []*syncTable
	v.mu.Lock()
	for k, r := range v.pending {
		if !all && r.due.After(now) {
			continue
		}
		if _, ok := byTable[r.tbl]; !ok {
			order = append(order, r.tbl)
		}
		byTable[r.tbl] = append(byTable[r.tbl], check{k, *r})
	}
	v.mu.Unlock()
	for _, t := range order {
		cs := byTable[t]
		for len(cs) > 0 {
			part := cs[:min(len(cs), validateBatch)]
			cs = cs[len(part):]
			diffs, err := v.read(ctx, t, part)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				if n := errno(err); n == 1146 || n == 1054 {
					// The table or a column is gone (a DDL): these rows
					// cannot be read as they were written.
					v.drop(part)
					continue
				}
				v.log.Warn("validation: read rows from the target", "table", t.quoted, "err", err)
				v.later(part, time.Second)
				continue
			}
			v.settleChecks(ctx, part, diffs)
		}
	}
}

// diff is what a check found: "" when the row is as it should be.
type diff struct {
	kind    string
	columns []string
}

// read reads the rows of part from the target and compares them.
func (v *validator) read(ctx context.Context, t *syncTable, part []check) ([]diff, error) {
	cols := t.key
	if v.full {
		cols = append(append([]int(nil), t.key...), nonKey(t)...)
	}
	q := []byte("SELECT ")
	for i, ci := range cols {
		if i > 0 {
			q = append(q, ',')
		}
		q = append(q, validateExpr(&t.cols[ci], v.flavor)...)
	}
	q = append(q, " FROM "...)
	q = append(q, t.quoted...)
	q = append(q, " WHERE "...)
	var err error
	if q, err = appendKeyIn(q, t, part); err != nil {
		return nil, err
	}
	rows, err := v.db.QueryContext(ctx, string(q))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byHash := make(map[uint64]int, len(part))
	for i, c := range part {
		byHash[c.k.hash] = i
	}
	raw := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	seen := make([]bool, len(part))
	out := make([]diff, len(part))
	keyVals := make([]any, len(t.cols))
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for j, ci := range t.key {
			keyVals[ci], _ = parseTargetValue(raw[j], &t.cols[ci])
		}
		i, ok := -1, false
		if h, hok := keyHash(t, t.keyIdx, t.key, keyVals); hok {
			i, ok = byHash[h]
		}
		if !ok {
			i = matchKey(t, part, raw[:len(t.key)])
		}
		if i < 0 {
			continue // a row the IN list matched under the key's collation only
		}
		seen[i] = true
		c := &part[i]
		if !c.r.present {
			out[i].kind = "extra"
			continue
		}
		if !v.full {
			continue
		}
		for j, ci := range cols {
			col := &t.cols[ci]
			if !sameAsImage(raw[j], c.r.row[ci], col) {
				out[i].columns = append(out[i].columns, col.name)
			}
		}
		if len(out[i].columns) > 0 {
			out[i].kind = "changed"
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, c := range part {
		if c.r.present && !seen[i] {
			out[i].kind = "missing"
		}
	}
	return out, nil
}

// nonKey lists the columns compared in mode full besides the key: every
// column written (generated ones are the target's own).
func nonKey(t *syncTable) []int {
	var out []int
	for _, ci := range t.writable {
		isKey := false
		for _, k := range t.key {
			isKey = isKey || k == ci
		}
		if !isKey {
			out = append(out, ci)
		}
	}
	return out
}

// matchKey finds the check whose key reads as raw, or -1.
func matchKey(t *syncTable, part []check, raw []sql.RawBytes) int {
	for i, c := range part {
		same := true
		for j, k := range t.key {
			same = same && sameAsImage(raw[j], c.r.row[k], &t.cols[k])
		}
		if same {
			return i
		}
	}
	return -1
}

// appendKeyIn appends "key IN (...)" (row constructors for a composite
// key) with the keys rendered as the applier renders them.
func appendKeyIn(q []byte, t *syncTable, part []check) ([]byte, error) {
	one := len(t.key) == 1
	if !one {
		q = append(q, '(')
	}
	for i, k := range t.key {
		if i > 0 {
			q = append(q, ',')
		}
		q = append(q, t.cols[k].quoted...)
	}
	if !one {
		q = append(q, ')')
	}
	q = append(q, " IN ("...)
	var err error
	for i, c := range part {
		if i > 0 {
			q = append(q, ',')
		}
		if !one {
			q = append(q, '(')
		}
		for j, k := range t.key {
			if j > 0 {
				q = append(q, ',')
			}
			if q, err = appendLiteral(q, c.r.row[k], &t.cols[k]); err != nil {
				return q, fmt.Errorf("%s: %w", t.quoted, err)
			}
		}
		if !one {
			q = append(q, ')')
		}
	}
	return append(q, ')'), nil
}

// settleChecks records what a read found, for the rows not replaced
// meanwhile by a newer change.
func (v *validator) settleChecks(ctx context.Context, part []check, diffs []diff) {
	now := time.Now()
	var failed []check
	var failedDiffs []diff
	var fixed []check
	v.mu.Lock()
	for i, c := range part {
		r := v.pending[c.k]
		if r == nil || r.gen != c.r.gen {
			continue // replaced (or dropped): the newer image is checked instead
		}
		if diffs[i].kind == "" {
			delete(v.pending, c.k)
			v.checked.Add(1)
			if len(v.stored) > 0 && v.stored[storedKey(c.r.tbl, c.r.row)] {
				fixed = append(fixed, c)
			}
			continue
		}
		r.checks++
		if r.checks < validateChecks {
			r.due = now.Add(validateFirstRetry << (r.checks - 1))
			continue
		}
		delete(v.pending, c.k)
		failed = append(failed, c)
		failedDiffs = append(failedDiffs, diffs[i])
	}
	v.mu.Unlock()
	for i, c := range failed {
		v.record(ctx, c, failedDiffs[i])
	}
	for _, c := range fixed {
		v.resolve(ctx, c)
	}
}

// later puts rows back to be read again after d, without counting a check.
func (v *validator) later(part []check, d time.Duration) {
	due := time.Now().Add(d)
	v.mu.Lock()
	for _, c := range part {
		if r := v.pending[c.k]; r != nil && r.gen == c.r.gen {
			r.due = due
		}
	}
	v.mu.Unlock()
}

// drop gives up on rows that cannot be read any more.
func (v *validator) drop(part []check) {
	v.mu.Lock()
	for _, c := range part {
		if r := v.pending[c.k]; r != nil && r.gen == c.r.gen {
			delete(v.pending, c.k)
			v.skipped.Add(1)
		}
	}
	v.mu.Unlock()
}

func storedKey(t *syncTable, row []any) string { return t.quoted + "\x00" + displayKey(t, row) }

func keyDigest(table, key string) string {
	sum := sha256.Sum256([]byte(table + "\x00" + key))
	return hex.EncodeToString(sum[:])
}

// record stores a row that differs.
func (v *validator) record(ctx context.Context, c check, d diff) {
	t := c.r.tbl
	key := displayKey(t, c.r.row)
	row := ValidationRow{Table: t.dst.Schema + "." + t.dst.Name, Key: key, Kind: d.kind, Columns: d.columns,
		Position: Position{File: c.r.file, Pos: c.r.pos}, Detected: time.Now().UTC()}
	v.log.Warn("validation: a row differs on the target", "table", row.Table, "key", key, "kind", d.kind,
		"columns", d.columns, "binlog", c.r.file, "pos", c.r.pos)
	sk := storedKey(t, c.r.row)
	v.mu.Lock()
	v.recent = append([]ValidationRow{row}, v.recent[:min(len(v.recent), validateShown-1)]...)
	store := v.stored[sk] || len(v.stored) < validateMaxStored
	if !store {
		v.over++
	}
	v.stored[sk] = v.stored[sk] || store
	v.mu.Unlock()
	if !store {
		return
	}
	cols, _ := json.Marshal(append([]string{}, d.columns...))
	_, err := v.db.ExecContext(ctx, `INSERT INTO dmplan_meta.validation_error
		(task, source, dst_schema, dst_table, key_digest, row_key, kind, columns, binlog_file, binlog_pos, detected_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON DUPLICATE KEY UPDATE kind = VALUES(kind), columns = VALUES(columns), binlog_file = VALUES(binlog_file),
		binlog_pos = VALUES(binlog_pos), detected_at = VALUES(detected_at)`,
		v.task, v.source, t.dst.Schema, t.dst.Name, keyDigest(t.quoted, key), key, d.kind, string(cols),
		c.r.file, c.r.pos, row.Detected)
	if err != nil && ctx.Err() == nil {
		v.log.Warn("validation: record a row that differs", "table", row.Table, "key", key, "err", err)
	}
}

// resolve removes the record of a row that now validates.
func (v *validator) resolve(ctx context.Context, c check) {
	t := c.r.tbl
	key := displayKey(t, c.r.row)
	v.mu.Lock()
	delete(v.stored, storedKey(t, c.r.row))
	recent := v.recent[:0]
	for _, r := range v.recent {
		if r.Table != t.dst.Schema+"."+t.dst.Name || r.Key != key {
			recent = append(recent, r)
		}
	}
	v.recent = recent
	v.mu.Unlock()
	_, err := v.db.ExecContext(ctx, `DELETE FROM dmplan_meta.validation_error
		WHERE task = ? AND source = ? AND dst_schema = ? AND dst_table = ? AND key_digest = ?`,
		v.task, v.source, t.dst.Schema, t.dst.Name, keyDigest(t.quoted, key))
	if err != nil && ctx.Err() == nil {
		v.log.Warn("validation: remove the record of a row that validates now", "table", t.quoted, "key", key, "err", err)
	}
}

// load reads the differences recorded by earlier runs.
func (v *validator) load(ctx context.Context) error {
	if v.flavor == "" {
		f, err := DetectFlavor(ctx, v.db)
		if err != nil {
			return err
		}
		v.flavor = f
	}
	rows, err := v.db.QueryContext(ctx, `SELECT dst_schema, dst_table, row_key, kind, columns, binlog_file, binlog_pos, detected_at
		FROM dmplan_meta.validation_error WHERE task = ? AND source = ? ORDER BY detected_at DESC`, v.task, v.source)
	if isNoSuchTable(err) {
		v.loaded = true
		return nil
	}
	if err != nil {
		return err
	}
	defer rows.Close()
	stored := map[string]bool{}
	var recent []ValidationRow
	for rows.Next() {
		var r ValidationRow
		var db, tbl, cols, at string
		if err := rows.Scan(&db, &tbl, &r.Key, &r.Kind, &cols, &r.Position.File, &r.Position.Pos, &at); err != nil {
			return err
		}
		r.Detected, _ = time.Parse("2006-01-02 15:04:05.999999", at) // the session is in UTC
		r.Table = db + "." + tbl
		_ = json.Unmarshal([]byte(cols), &r.Columns)
		stored[quoteTable(db, tbl)+"\x00"+r.Key] = true
		if len(recent) < validateShown {
			recent = append(recent, r)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	v.mu.Lock()
	for k := range stored {
		v.stored[k] = true
	}
	v.recent = append(v.recent, recent...)
	v.loaded = true
	v.mu.Unlock()
	return nil
}

// progress is the validator's report.
func (v *validator) progress() *Validation {
	v.mu.Lock()
	defer v.mu.Unlock()
	return &Validation{Mode: v.mode(), Checked: v.checked.Load(), Pending: int64(len(v.pending)),
		Failed: int64(len(v.stored)) + v.over, Skipped: v.skipped.Load(),
		Rows: append([]ValidationRow(nil), v.recent...)}
}
