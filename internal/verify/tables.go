package verify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/dmplan/dmplan/internal/tablefilter"
	"github.com/dmplan/dmplan/units"
)

// shard is one source table feeding a target table.
type shard struct {
	sub  *subtask
	name units.TableName
}

func (s shard) String() string { return s.sub.Source + ":" + s.name.Schema + "." + s.name.Name }

// job is one target table and the source tables routed to it.
type job struct {
	target    units.TableName
	shards    []shard
	cols      []col
	key       []string // chunk key; nil when the table is compared whole
	keyBinary []bool   // per key column: bytes, sent as binary parameters
	intKey    bool     // the first key column is an integer: ranges are arithmetic
	walk      int      // side the key is walked on (-1: target, else shard index)
	estRows   int64
	skip      bool // nothing to compare (result already set)

	mu       sync.Mutex
	res      TableResult
	pending  int
	produced bool
}

func (j *job) name() string { return j.target.Schema + "." + j.target.Name }

func (j *job) fail(err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.res.Error == "" {
		j.res.Error = err.Error()
	}
}

func (j *job) note(s string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.res.Notes = append(j.res.Notes, s)
}

func (j *job) chunkAdded() {
	j.mu.Lock()
	j.pending++
	j.res.Chunks++
	j.mu.Unlock()
}

// chunkDone reports whether the job is finished.
func (j *job) chunkDone() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.pending--
	return j.pending == 0 && j.produced
}

// producerDone marks that every chunk was handed out; it reports whether
// the job is finished.
func (j *job) producerDone() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.produced = true
	return j.pending == 0
}

func (j *job) result() TableResult {
	j.mu.Lock()
	defer j.mu.Unlock()
	res := j.res
	switch {
	case res.Error != "":
		res.Status = StatusError
	case res.Status == StatusSkipped:
	case res.Missing+res.Extra+res.Changed > 0 || res.Status == StatusDiffer:
		res.Status = StatusDiffer
	case res.Unsettled > 0:
		res.Status = StatusUnsettled
	default:
		res.Status = StatusEqual
	}
	sort.Slice(res.Rows, func(a, b int) bool { return res.Rows[a].order < res.Rows[b].order })
	return res
}

// discover lists every selected source table, routes it, and builds one
// job per target table. Tables left out by --source are returned as
// skipped results.
func (r *run) discover(ctx context.Context) ([]*job, []TableResult, error) {
	byTarget := map[units.TableName]*job{}
	for _, s := range r.subs {
		filter, err := tablefilter.Parse(s.Tables)
		if err != nil {
			return nil, nil, fmt.Errorf("verify %s/%s: table filter: %w", s.Task, s.Source, err)
		}
		routes := make([]tablefilter.Route, len(s.Routes))
		for i, rt := range s.Routes {
			routes[i] = tablefilter.Route{From: rt.From, To: rt.To}
		}
		router, err := tablefilter.ParseRoutes(routes)
		if err != nil {
			return nil, nil, fmt.Errorf("verify %s/%s: routes: %w", s.Task, s.Source, err)
		}
		tables, err := units.ListTables(ctx, s.src, filter.Match)
		if err != nil {
			return nil, nil, fmt.Errorf("verify %s/%s: source %s: %w", s.Task, s.Source, s.From, err)
		}
		for _, t := range tables {
			db, tb := router.Route(t.Schema, t.Name)
			to := units.TableName{Schema: db, Name: tb}
			j := byTarget[to]
			if j == nil {
				j = &job{target: to, walk: -1}
				byTarget[to] = j
			}
			j.shards = append(j.shards, shard{sub: s, name: t})
		}
	}
	var only tablefilter.Filter
	if len(r.opts.Tables) > 0 {
		var err error
		if only, err = tablefilter.Parse(r.opts.Tables); err != nil {
			return nil, nil, fmt.Errorf("--tables: %w", err)
		}
	}
	var jobs []*job
	var skipped []TableResult
	for _, j := range byTarget {
		if len(r.opts.Tables) > 0 && !j.matches(only) {
			continue
		}
		if r.opts.Source != "" {
			mine, others := j.sources(r.opts.Source)
			if !mine {
				continue
			}
			if others {
				skipped = append(skipped, TableResult{Table: j.name(), Sources: j.shardNames(), Status: StatusSkipped,
					Notes: []string{"merged from several sources: compare it without --source"}})
				continue
			}
		}
		j.res = TableResult{Table: j.name(), Sources: j.shardNames()}
		jobs = append(jobs, j)
	}
	if r.opts.Source != "" && !slices.ContainsFunc(r.subs, func(s *subtask) bool { return s.Source == r.opts.Source }) {
		return nil, nil, fmt.Errorf("--source %s: task %s has no such source", r.opts.Source, r.task)
	}
	sort.Slice(jobs, func(a, b int) bool { return jobs[a].name() < jobs[b].name() })
	for _, j := range jobs {
		if err := r.prepare(ctx, j); err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			j.fail(err)
			j.skip = true
		}
	}
	return jobs, skipped, nil
}

func (j *job) matches(f tablefilter.Filter) bool {
	if f.Match(j.target.Schema, j.target.Name) {
		return true
	}
	for _, s := range j.shards {
		if f.Match(s.name.Schema, s.name.Name) {
			return true
		}
	}
	return false
}

func (j *job) sources(name string) (mine, others bool) {
	for _, s := range j.shards {
		if s.sub.Source == name {
			mine = true
		} else {
			others = true
		}
	}
	return mine, others
}

func (j *job) shardNames() []string {
	out := make([]string, len(j.shards))
	for i, s := range j.shards {
		out[i] = s.String()
	}
	sort.Strings(out)
	return out
}

// side is one table definition: the target's or a shard's.
type side struct {
	what string
	t    *units.Table
	cs   map[string][2]string // column -> charset, collation
	rows int64
}

// prepare reads every side's definition and decides the compared
// columns, the chunk key and the row estimate.
func (r *run) prepare(ctx context.Context, j *job) error {
	tgt, err := readSide(ctx, r.target, j.target, "target")
	if errors.Is(err, units.ErrTableNotFound) {
		j.res.Status = StatusDiffer
		j.res.Notes = append(j.res.Notes, "the target table does not exist")
		j.skip = true
		return nil
	}
	if err != nil {
		return err
	}
	sides := []*side{tgt}
	for _, s := range j.shards {
		sd, err := readSide(ctx, s.sub.src, s.name, "source "+s.String())
		if err != nil {
			return err
		}
		sides = append(sides, sd)
		j.estRows += sd.rows
	}
	// Compared columns: what sync writes (generated columns are computed
	// by each server), by name; every side must have the same ones.
	var names []string
	for _, c := range tgt.t.WritableColumns() {
		names = append(names, c.Name)
	}
	for _, sd := range sides[1:] {
		var theirs []string
		for _, c := range sd.t.WritableColumns() {
			theirs = append(theirs, c.Name)
		}
		if missing, extra := setDiff(names, theirs); len(missing)+len(extra) > 0 {
			j.res.Status = StatusDiffer
			j.res.Notes = append(j.res.Notes, fmt.Sprintf("columns differ from %s: %s", sd.what, describeColumnDiff(missing, extra)))
			j.skip = true
			return nil
		}
	}
	flavor := j.shards[0].sub.flavor
	for _, n := range names {
		var defs []sideCol
		for _, sd := range sides {
			c := sd.t.Column(n)
			cs := sd.cs[n]
			defs = append(defs, sideCol{Column: *c, Charset: cs[0], Collation: cs[1]})
		}
		j.cols = append(j.cols, colExpr(n, defs, flavor))
	}
	r.chooseKey(j, sides)
	return nil
}

func describeColumnDiff(missing, extra []string) string {
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "only the target has "+strings.Join(missing, ", "))
	}
	if len(extra) > 0 {
		parts = append(parts, "only the source has "+strings.Join(extra, ", "))
	}
	return strings.Join(parts, "; ")
}

// setDiff returns what a has and b lacks, and what b has and a lacks.
func setDiff(a, b []string) (onlyA, onlyB []string) {
	for _, x := range a {
		if !slices.Contains(b, x) {
			onlyA = append(onlyA, x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			onlyB = append(onlyB, x)
		}
	}
	return onlyA, onlyB
}

// chooseKey picks the target's chunk key when every side has it NOT NULL
// with the same type and collation (so ranges select the same rows
// everywhere); otherwise the table is compared whole.
func (r *run) chooseKey(j *job, sides []*side) {
	_, key := sides[0].t.ChunkKey()
	if key == nil {
		j.res.Keyless = true
		j.res.Notes = append(j.res.Notes, "no primary key or NOT NULL unique key that orders the same everywhere: compared whole")
		return
	}
	for _, k := range key {
		want := sides[0].t.Column(k)
		for _, sd := range sides[1:] {
			c := sd.t.Column(k)
			if c == nil || c.Nullable || c.ColumnType != want.ColumnType || sd.cs[k] != sides[0].cs[k] {
				j.res.Keyless = true
				j.res.Notes = append(j.res.Notes, fmt.Sprintf("key column %s is defined differently on %s: compared whole", k, sd.what))
				return
			}
		}
	}
	j.key = key
	j.res.Key = key
	for _, k := range key {
		j.keyBinary = append(j.keyBinary, units.IsBinaryType(*sides[0].t.Column(k)))
	}
	switch sides[0].t.Column(key[0]).DataType {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		j.intKey = true
	}
	// Keyset chunks are cut on the largest side.
	best := sides[0].rows
	for i, sd := range sides[1:] {
		if sd.rows > best {
			best, j.walk = sd.rows, i
		}
	}
}

func readSide(ctx context.Context, db *sql.DB, name units.TableName, what string) (*side, error) {
	t, err := units.ReadTable(ctx, db, name.Schema, name.Name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	sd := &side{what: what, t: t, cs: map[string][2]string{}}
	rows, err := db.QueryContext(ctx, `SELECT COLUMN_NAME, IFNULL(CHARACTER_SET_NAME, ''), IFNULL(COLLATION_NAME, '')
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, name.Schema, name.Name)
	if err != nil {
		return nil, fmt.Errorf("%s: read collations of %s: %w", what, name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var c, cs, coll string
		if err := rows.Scan(&c, &cs, &coll); err != nil {
			return nil, fmt.Errorf("%s: read collations of %s: %w", what, name, err)
		}
		sd.cs[c] = [2]string{cs, coll}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: read collations of %s: %w", what, name, err)
	}
	var est sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
		name.Schema, name.Name).Scan(&est); err != nil {
		return nil, fmt.Errorf("%s: estimate rows of %s: %w", what, name, err)
	}
	sd.rows = est.Int64
	return sd, nil
}
