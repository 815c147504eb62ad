package verify

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/dmplan/dmplan/units"
)

// A table without a usable key is compared whole: rows are identified by
// their hash, and counted (equal rows may repeat; a changed row shows as
// one missing and one extra). Each side returns its (hash, count) groups
// sorted by hash and the streams are merged, so memory does not grow with
// the table; the groups that differ are checked again after sync caught
// up, then their rows are read for the report.

// groupStream is one side's (hash, count) pairs, in hash order.
type groupStream struct {
	pull func() (h uint64, n int64, ok bool, err error)
	cur  uint64
	n    int64
	ok   bool
	err  error
}

func (g *groupStream) next() { g.cur, g.n, g.ok, g.err = g.pull() }

func rowsStream(rows *sql.Rows) *groupStream {
	g := &groupStream{pull: func() (uint64, int64, bool, error) {
		if !rows.Next() {
			return 0, 0, false, rows.Err()
		}
		var h uint64
		var n int64
		if err := rows.Scan(&h, &n); err != nil {
			return 0, 0, false, err
		}
		return h, n, true, nil
	}}
	g.next()
	return g
}

// openGroups starts a side's (hash, count) query; in restricts the rows
// to hashes in that list (empty: all).
func (r *run) openGroups(ctx context.Context, q units.Querier, j *job, t units.TableName, in string) (*sql.Rows, error) {
	h := r.rowHash(j)
	query := "SELECT " + h + " AS h, COUNT(*) FROM " + t.String()
	if in != "" {
		query += " WHERE " + h + " IN (" + in + ")"
	}
	rows, err := q.QueryContext(ctx, query+" GROUP BY h ORDER BY h")
	if err != nil {
		return nil, fmt.Errorf("group rows of %s: %w", t, err)
	}
	return rows, nil
}

// groupDiff is a hash whose count differs: source rows minus target rows.
type groupDiff struct {
	h     uint64
	delta int64
}

// diffGroups opens every source's groups in a snapshot, waits for sync to
// pass those snapshots, opens the target's, and merges the streams.
func (r *run) diffGroups(ctx context.Context, j *job, in string) ([]groupDiff, error) {
	var diffs []groupDiff
	var streams []*groupStream
	var reads []read
	var open func(i int) error
	open = func(i int) error {
		if i < len(j.shards) {
			s := j.shards[i]
			_, err := snapshot(ctx, s.sub, func(q units.Querier, pos units.Position) error {
				rows, err := r.openGroups(ctx, q, j, s.name, in)
				if err != nil {
					return err
				}
				defer rows.Close()
				streams = append(streams, rowsStream(rows))
				reads = append(reads, read{sub: s.sub, pos: pos})
				return open(i + 1)
			})
			return err
		}
		if err := r.waitApplied(ctx, reads); err != nil {
			return err
		}
		return r.onTarget(ctx, func(q units.Querier) error {
			rows, err := r.openGroups(ctx, q, j, j.target, in)
			if err != nil {
				return err
			}
			defer rows.Close()
			diffs, err = mergeGroups(streams, rowsStream(rows), r.opts.MaxRows*10)
			return err
		})
	}
	return diffs, open(0)
}

// mergeGroups walks the sorted streams together and returns the hashes
// whose source total differs from the target's count (at most limit).
func mergeGroups(srcs []*groupStream, tgt *groupStream, limit int) ([]groupDiff, error) {
	var out []groupDiff
	for {
		var lowest uint64
		any := false
		for _, g := range append(srcs, tgt) {
			if g.err != nil {
				return nil, g.err
			}
			if g.ok && (!any || g.cur < lowest) {
				lowest, any = g.cur, true
			}
		}
		if !any {
			return out, nil
		}
		var delta int64
		for _, g := range srcs {
			if g.ok && g.cur == lowest {
				delta += g.n
				g.next()
			}
		}
		if tgt.ok && tgt.cur == lowest {
			delta -= tgt.n
			tgt.next()
		}
		if delta != 0 && len(out) < limit {
			out = append(out, groupDiff{h: lowest, delta: delta})
		}
	}
}

// compareWhole finds the rows of a keyless table that differ.
func (r *run) compareWhole(ctx context.Context, c *chunk) error {
	j := c.job
	diffs, err := r.diffGroups(ctx, j, "")
	if err != nil {
		return err
	}
	for attempt := 1; attempt < r.opts.RowRetries && len(diffs) > 0; attempt++ {
		var hs []string
		for _, d := range diffs {
			hs = append(hs, strconv.FormatUint(d.h, 10))
		}
		if diffs, err = r.diffGroups(ctx, j, strings.Join(hs, ", ")); err != nil {
			return err
		}
	}
	for _, d := range diffs {
		if err := r.reportGroup(ctx, c, d); err != nil {
			return err
		}
	}
	return nil
}

// reportGroup reads the rows of a differing hash from the side that has
// more of them, and reports |delta| of them.
func (r *run) reportGroup(ctx context.Context, c *chunk, d groupDiff) error {
	j := c.job
	where := r.rowHash(j) + " = " + strconv.FormatUint(d.h, 10)
	n := d.delta
	kind := KindMissing
	if n < 0 {
		n, kind = -n, KindExtra
	}
	var found *row
	read := func(q units.Querier, t units.TableName, idx int) error {
		return scanRows(ctx, q, j, t, where+" LIMIT 1", nil, true, idx, func(rw *row) { found = rw })
	}
	var err error
	if kind == KindExtra {
		err = r.onTarget(ctx, func(q units.Querier) error { return read(q, j.target, -1) })
	} else {
		for i, s := range j.shards {
			if found != nil {
				break
			}
			_, err = snapshot(ctx, s.sub, func(q units.Querier, _ units.Position) error { return read(q, s.name, i) })
			if err != nil {
				break
			}
		}
	}
	if err != nil || found == nil {
		return err
	}
	for i := int64(0); i < n; i++ {
		r.reportKeyless(c, kind, found)
	}
	return nil
}

// reportKeyless records one differing row of a keyless table.
func (r *run) reportKeyless(c *chunk, kind Kind, rw *row) {
	j := c.job
	d := RowDiff{Kind: kind}
	for i, col := range j.cols {
		v := "NULL"
		if rw.vals[i] != nil {
			v = displayValue(string(rw.vals[i]))
			if j.cols[i].Binary {
				v = displayValue(rw.vals[i])
			}
		}
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		d.Key = append(d.Key, col.Name+"="+v)
	}
	if rw.shard >= 0 {
		d.Source = j.shards[rw.shard].String()
	}
	j.mu.Lock()
	if kind == KindMissing {
		j.res.Missing++
	} else {
		j.res.Extra++
	}
	if len(j.res.Rows) < r.opts.MaxRows {
		d.order = len(j.res.Rows)
		j.res.Rows = append(j.res.Rows, d)
	} else {
		j.res.RowsOmitted++
	}
	j.mu.Unlock()
	if r.fix == nil {
		return
	}
	if kind == KindExtra {
		r.fix.deleteRow(j, rw.vals)
	} else {
		r.fix.insert(j, rw.vals)
	}
}
