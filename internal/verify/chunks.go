package verify

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
	"strings"

	"github.com/dmplan/dmplan/units"
)

// chunk is a key range of one job.
type chunk struct {
	job *job
	// Integer ranges on the first key column: [lo, hi), nil = unbounded.
	lo, hi *big.Int
	// Keyset ranges: (after, upTo], nil = unbounded.
	after, upTo []any
	whole       bool // keyless: the whole table
}

func (c *chunk) String() string {
	name := c.job.name()
	switch {
	case c.whole:
		return name + " (whole table)"
	case c.job.intKey:
		return fmt.Sprintf("%s %s in [%s, %s)", name, c.job.key[0], bigText(c.lo, "-inf"), bigText(c.hi, "+inf"))
	}
	return fmt.Sprintf("%s (%s) in (%s, %s]", name, strings.Join(c.job.key, ", "), tupleText(c.after, "-inf"), tupleText(c.upTo, "+inf"))
}

func bigText(b *big.Int, none string) string {
	if b == nil {
		return none
	}
	return b.String()
}

func tupleText(t []any, none string) string {
	if t == nil {
		return none
	}
	parts := make([]string, len(t))
	for i, v := range t {
		parts[i] = fmt.Sprintf("%s", v)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// where is the chunk's predicate and its arguments.
func (c *chunk) where() (string, []any) {
	if c.whole {
		return "", nil
	}
	var conds []string
	var args []any
	if c.job.intKey {
		k := units.QuoteIdent(c.job.key[0])
		if c.lo != nil {
			conds = append(conds, k+" >= "+c.lo.String())
		}
		if c.hi != nil {
			conds = append(conds, k+" < "+c.hi.String())
		}
	} else {
		if c.after != nil {
			w, a := keyAfter(c.job.key, c.after)
			conds, args = append(conds, w), append(args, a...)
		}
		if c.upTo != nil {
			w, a := keyUpTo(c.job.key, c.upTo)
			conds, args = append(conds, w), append(args, a...)
		}
	}
	return strings.Join(conds, " AND "), args
}

// split halves an integer range chunk; ok is false when it cannot be split.
func (c *chunk) split() (a, b *chunk, ok bool) {
	if !c.job.intKey || c.lo == nil || c.hi == nil {
		return nil, nil, false
	}
	width := new(big.Int).Sub(c.hi, c.lo)
	if width.Cmp(big.NewInt(1)) <= 0 {
		return nil, nil, false
	}
	mid := new(big.Int).Add(c.lo, new(big.Int).Rsh(width, 1))
	return &chunk{job: c.job, lo: c.lo, hi: mid}, &chunk{job: c.job, lo: mid, hi: c.hi}, true
}

// chunks cuts a job into chunks and hands each to emit, in key order,
// until emit returns false.
func (r *run) chunks(ctx context.Context, j *job, emit func(*chunk) bool) error {
	switch {
	case j.key == nil:
		emit(&chunk{job: j, whole: true})
		return nil
	case j.intKey:
		return r.intChunks(ctx, j, emit)
	}
	return r.keysetChunks(ctx, j, emit)
}

// intChunks cuts [min, max] of the first key column (over every side)
// into ranges of about ChunkRows rows by the row estimate; the first and
// last ranges are open so that rows written meanwhile are not missed.
func (r *run) intChunks(ctx context.Context, j *job, emit func(*chunk) bool) error {
	var lo, hi *big.Int
	k := units.QuoteIdent(j.key[0])
	q := func(db *sql.DB, t units.TableName) error {
		var mn, mx sql.NullString
		if err := db.QueryRowContext(ctx, "SELECT MIN("+k+"), MAX("+k+") FROM "+t.String()).Scan(&mn, &mx); err != nil {
			return fmt.Errorf("read key range of %s: %w", t, err)
		}
		if !mn.Valid {
			return nil
		}
		a, ok1 := new(big.Int).SetString(mn.String, 10)
		b, ok2 := new(big.Int).SetString(mx.String, 10)
		if !ok1 || !ok2 {
			return fmt.Errorf("read key range of %s: not integers: %q, %q", t, mn.String, mx.String)
		}
		if lo == nil || a.Cmp(lo) < 0 {
			lo = a
		}
		if hi == nil || b.Cmp(hi) > 0 {
			hi = b
		}
		return nil
	}
	if err := q(r.target, j.target); err != nil {
		return err
	}
	for _, s := range j.shards {
		if err := q(s.sub.src, s.name); err != nil {
			return err
		}
	}
	if lo == nil {
		emit(&chunk{job: j})
		return nil
	}
	n := max(1, (j.estRows+int64(r.opts.ChunkRows)-1)/int64(r.opts.ChunkRows))
	span := new(big.Int).Sub(hi, lo)
	span.Add(span, big.NewInt(1))
	width := new(big.Int).Div(span, big.NewInt(n))
	if width.Sign() == 0 {
		width.SetInt64(1)
	}
	var prev *big.Int
	for at := new(big.Int).Add(lo, width); at.Cmp(hi) <= 0; at = new(big.Int).Add(at, width) {
		if !emit(&chunk{job: j, lo: prev, hi: at}) {
			return nil
		}
		prev = at
	}
	emit(&chunk{job: j, lo: prev})
	return nil
}

// keysetChunks walks the key on the largest side: each boundary is the
// key ChunkRows rows after the previous one.
func (r *run) keysetChunks(ctx context.Context, j *job, emit func(*chunk) bool) error {
	db, t := r.target, j.target
	if j.walk >= 0 {
		db, t = j.shards[j.walk].sub.src, j.shards[j.walk].name
	}
	cols := make([]string, len(j.key))
	for i, k := range j.key {
		cols[i] = units.QuoteIdent(k)
	}
	order := strings.Join(cols, ", ")
	var after []any
	for {
		q := "SELECT " + order + " FROM " + t.String()
		var args []any
		if after != nil {
			w, a := keyAfter(j.key, after)
			q += " WHERE " + w
			args = a
		}
		q += fmt.Sprintf(" ORDER BY %s LIMIT 1 OFFSET %d", order, r.opts.ChunkRows-1)
		raw := make([]sql.RawBytes, len(j.key))
		ptrs := make([]any, len(raw))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		rows, err := db.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("walk the key of %s: %w", t, err)
		}
		var bound []any
		if rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return fmt.Errorf("walk the key of %s: %w", t, err)
			}
			bound = j.keyValues(raw)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("walk the key of %s: %w", t, err)
		}
		if bound == nil {
			emit(&chunk{job: j, after: after})
			return nil
		}
		if !emit(&chunk{job: j, after: after, upTo: bound}) {
			return nil
		}
		after = bound
	}
}

// keyValues turns raw key columns into query arguments: []byte for binary
// columns, string otherwise (compared in the column's collation).
func (j *job) keyValues(raw []sql.RawBytes) []any {
	out := make([]any, len(raw))
	for i, v := range raw {
		if j.keyBinary[i] {
			out[i] = append([]byte{}, v...)
		} else {
			out[i] = string(v)
		}
	}
	return out
}
