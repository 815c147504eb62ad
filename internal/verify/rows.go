package verify

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/dmplan/dmplan/units"
)

// row is one row as compared in Go: its key, a hash per column and,
// when asked for, the column values (nil = NULL).
type row struct {
	key    []any
	id     string // the key's bytes, length-prefixed: the map key
	hashes []uint64
	vals   [][]byte
	shard  int // index in job.shards; -1 on the target
}

// selectRows is "SELECT key..., cols... FROM t WHERE where".
func selectRows(j *job, t units.TableName, where string) string {
	parts := make([]string, 0, len(j.key)+len(j.cols))
	for _, k := range j.key {
		parts = append(parts, units.QuoteIdent(k))
	}
	for _, c := range j.cols {
		parts = append(parts, c.Expr)
	}
	q := "SELECT " + strings.Join(parts, ", ") + " FROM " + t.String()
	if where != "" {
		q += " WHERE " + where
	}
	return q
}

// scanRows streams the rows of t matching where to fn.
func scanRows(ctx context.Context, q units.Querier, j *job, t units.TableName, where string, args []any, keep bool, shardIdx int, fn func(*row)) error {
	rows, err := q.QueryContext(ctx, selectRows(j, t, where), args...)
	if err != nil {
		return fmt.Errorf("read rows of %s: %w", t, err)
	}
	defer rows.Close()
	nk := len(j.key)
	raw := make([]sql.RawBytes, nk+len(j.cols))
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	var idb []byte
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("read rows of %s: %w", t, err)
		}
		rw := &row{key: j.keyValues(raw[:nk]), hashes: make([]uint64, len(j.cols)), shard: shardIdx}
		idb = idb[:0]
		for _, v := range raw[:nk] {
			idb = binary.AppendUvarint(idb, uint64(len(v)))
			idb = append(idb, v...)
		}
		rw.id = string(idb)
		if keep {
			rw.vals = make([][]byte, len(j.cols))
		}
		for i, v := range raw[nk:] {
			rw.hashes[i] = valueHash(v)
			if keep && v != nil {
				rw.vals[i] = append([]byte{}, v...)
			}
		}
		fn(rw)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read rows of %s: %w", t, err)
	}
	return nil
}

// valueHash hashes a value's bytes; NULL hashes apart from every value.
func valueHash(v []byte) uint64 {
	if v == nil {
		return 0
	}
	h := fnv.New64a()
	h.Write(v)
	return h.Sum64() | 1
}

// candidate is a row that differed when last compared.
type candidate struct {
	key     []any
	id      string
	kind    Kind
	columns []string
	src     *row // the source's row, when it has one
	settled bool // the source did not change during the last check
}

// compareRows compares a chunk row by row: the sources' rows (each in a
// snapshot) are held by key, the target's (read once sync has passed
// those snapshots) are streamed against them.
func (r *run) compareRows(ctx context.Context, c *chunk) error {
	where, args := c.where()
	j := c.job
	src := map[string]*row{}
	var reads []read
	for i, s := range j.shards {
		pos, err := snapshot(ctx, s.sub, func(q units.Querier, _ units.Position) error {
			return scanRows(ctx, q, j, s.name, where, args, false, i, func(rw *row) { src[rw.id] = rw })
		})
		if err != nil {
			return err
		}
		reads = append(reads, read{sub: s.sub, pos: pos})
	}
	if err := r.waitApplied(ctx, reads); err != nil {
		return err
	}
	var cands []candidate
	err := r.onTarget(ctx, func(q units.Querier) error {
		return scanRows(ctx, q, j, j.target, where, args, false, -1, func(t *row) {
			s, ok := src[t.id]
			if !ok {
				cands = append(cands, candidate{key: t.key, id: t.id, kind: KindExtra})
				return
			}
			delete(src, t.id)
			if cols := j.differing(s, t); cols != nil {
				cands = append(cands, candidate{key: s.key, id: s.id, kind: KindChanged, columns: cols})
			}
		})
	})
	if err != nil {
		return err
	}
	for _, s := range src {
		cands = append(cands, candidate{key: s.key, id: s.id, kind: KindMissing})
	}
	return r.recheckRows(ctx, c, cands)
}

// differing lists the columns whose values differ, nil when none.
func (j *job) differing(a, b *row) []string {
	var out []string
	for i := range j.cols {
		if a.hashes[i] != b.hashes[i] {
			out = append(out, j.cols[i].Name)
		}
	}
	return out
}

// recheckRows checks differing rows again by key, up to RowRetries - 1
// times. Each check reads the rows from the sources in a snapshot at P1,
// waits until sync has passed P1, reads the target, then reads the sources
// again at P2. Sync had then applied every change before P1 and none
// after P2, so:
//
//   - the target equal to the source at P1 or at P2: the row is right;
//   - the source unchanged from P1 to P2 and the target different: the row
//     differs (confirmed once more checks agree, twice in a row);
//   - otherwise the row changed more than once meanwhile: check again.
//
// A row still changing at the last check is reported as unsettled, never
// as a difference.
func (r *run) recheckRows(ctx context.Context, c *chunk, cands []candidate) error {
	j := c.job
	const batch = 500
	var confirmed []candidate
	for attempt := 1; attempt < r.opts.RowRetries && len(cands) > 0; attempt++ {
		var still []candidate
		for start := 0; start < len(cands); start += batch {
			part := cands[start:min(start+batch, len(cands))]
			keys := make([][]any, len(part))
			for i, cd := range part {
				keys[i] = cd.key
			}
			where, args := keyIn(j.key, keys)
			readSources := func() (map[string]*row, []read, error) {
				src := map[string]*row{}
				var reads []read
				for i, s := range j.shards {
					pos, err := snapshot(ctx, s.sub, func(q units.Querier, _ units.Position) error {
						return scanRows(ctx, q, j, s.name, where, args, true, i, func(rw *row) { src[rw.id] = rw })
					})
					if err != nil {
						return nil, nil, err
					}
					reads = append(reads, read{sub: s.sub, pos: pos})
				}
				return src, reads, nil
			}
			src1, reads, err := readSources()
			if err != nil {
				return err
			}
			if err := r.waitApplied(ctx, reads); err != nil {
				return err
			}
			tgt := map[string]*row{}
			err = r.onTarget(ctx, func(q units.Querier) error {
				return scanRows(ctx, q, j, j.target, where, args, false, -1, func(rw *row) { tgt[rw.id] = rw })
			})
			if err != nil {
				return err
			}
			src2, _, err := readSources()
			if err != nil {
				return err
			}
			for _, cd := range part {
				s1, s2, t := src1[cd.id], src2[cd.id], tgt[cd.id]
				if j.sameRow(t, s1) || j.sameRow(t, s2) {
					continue
				}
				next := candidate{key: cd.key, id: cd.id, src: s2, settled: j.sameRow(s1, s2)}
				switch {
				case !next.settled:
					next.kind = KindUnsettled
				case s2 == nil:
					next.kind = KindExtra
				case t == nil:
					next.kind = KindMissing
				default:
					next.kind, next.columns = KindChanged, j.differing(s2, t)
				}
				if next.settled && cd.settled && next.kind == cd.kind {
					confirmed = append(confirmed, next) // twice in a row
					continue
				}
				still = append(still, next)
			}
		}
		r.opts.Log.Debug("rows rechecked", "table", j.name(), "attempt", attempt+1, "confirmed", len(confirmed), "open", len(still))
		cands = still
	}
	cands = append(confirmed, cands...)
	slices.SortFunc(cands, func(a, b candidate) int { return strings.Compare(a.id, b.id) })
	for _, cd := range cands {
		if cd.src == nil && cd.kind != KindExtra {
			continue // not read again (RowRetries < 2): cannot happen after defaults
		}
		r.report(c, cd)
	}
	return nil
}

// sameRow reports whether two reads of a row are equal (nil: absent).
func (j *job) sameRow(a, b *row) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return j.differing(a, b) == nil
}

// report records a confirmed difference and writes its fix.
func (r *run) report(c *chunk, cd candidate) {
	j := c.job
	d := RowDiff{Kind: cd.kind, Columns: cd.columns}
	for i, k := range cd.key {
		d.Key = append(d.Key, j.key[i]+"="+displayValue(k))
	}
	if cd.src != nil {
		d.Source = j.shards[cd.src.shard].String()
	}
	j.mu.Lock()
	switch cd.kind {
	case KindMissing:
		j.res.Missing++
	case KindExtra:
		j.res.Extra++
	case KindChanged:
		j.res.Changed++
	case KindUnsettled:
		j.res.Unsettled++
	}
	if len(j.res.Rows) < r.opts.MaxRows {
		d.order = len(j.res.Rows)
		j.res.Rows = append(j.res.Rows, d)
	} else {
		j.res.RowsOmitted++
	}
	j.mu.Unlock()
	switch {
	case r.fix == nil, cd.kind == KindUnsettled:
	case cd.kind == KindExtra:
		r.fix.delete(j, cd.key)
	default:
		r.fix.replace(j, cd.src.vals)
	}
}

// displayValue prints a key value for people: text as is, bytes as hex.
func displayValue(v any) string {
	switch x := v.(type) {
	case []byte:
		if isPrintable(x) {
			return string(x)
		}
		return "0x" + hex.EncodeToString(x)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

func isPrintable(b []byte) bool {
	return bytes.IndexFunc(b, func(r rune) bool { return r < 0x20 || r == 0x7f || r == 0xfffd }) < 0
}
