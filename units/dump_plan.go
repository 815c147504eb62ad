package units

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dmplan/dmplan/internal/retry"
)

// tableJob is one source table to copy in this attempt.
type tableJob struct {
	src, dst  tableRef
	def       *Table
	cols      []Column // written columns, in order
	kinds     []valueKind
	selectSQL string // SELECT ... FROM ... [FORCE INDEX]: without WHERE/ORDER BY
	keyName   string // index chunks are cut by; "" when the table has none
	key       []string
	keyPos    []int  // position of each key column in the select list
	keyBinary []bool // key column compared as bytes
	orderBy   string

	method     string     // MethodLoadData or MethodInsert
	loadBinary bool       // LOAD DATA reads the rows as binary (load_charset.go)
	replace    bool       // load with REPLACE: the table holds chunks of an older snapshot
	pending    []chunkRec // chunks still to load, in key order per attempt
	maxSeq     uint32     // highest chunk seq recorded
	rowsDone   int64      // rows of chunks already loaded
	estimate   int64      // source's row estimate
	rowsRead   int64      // rows its reader has sent in this attempt (chunkLimit)
	limit      int        // LIMIT of the next chunk query: ChunkRows, or fewer when rows are wide

	inflight atomic.Int64 // chunks sent and not loaded, +1 while the reader works
}

// chunkRec is a chunk's key range (lo, hi]; nil means unbounded.
type chunkRec struct {
	seq    uint32
	lo, hi *string
}

func (j *tableJob) String() string { return j.src.String() }

// newTableJob prepares the SQL for copying def to dst.
func newTableJob(def *Table, dst tableRef, flavor string) *tableJob {
	j := &tableJob{src: tableRef{def.Schema, def.Name}, dst: dst, def: def}
	j.cols = def.WritableColumns()
	exprs := make([]string, 0, len(j.cols)+2)
	for _, c := range j.cols {
		j.kinds = append(j.kinds, kindOf(c))
		exprs = append(exprs, selectExpr(c, flavor))
	}
	j.keyName, j.key = def.chunkKey()
	var order []string
	for _, k := range j.key {
		pos := slices.IndexFunc(j.cols, func(c Column) bool { return c.Name == k })
		if pos < 0 { // a generated key column: read it, do not write it
			pos = len(exprs)
			exprs = append(exprs, QuoteIdent(k))
		}
		j.keyPos = append(j.keyPos, pos)
		j.keyBinary = append(j.keyBinary, isBinaryKeyCol(def.Column(k)))
		order = append(order, QuoteIdent(k))
	}
	j.selectSQL = "SELECT " + strings.Join(exprs, ", ") + " FROM " + j.src.String()
	if j.keyName != "" {
		j.selectSQL += " FORCE INDEX (" + QuoteIdent(j.keyName) + ")"
		j.orderBy = " ORDER BY " + strings.Join(order, ", ")
	}
	return j
}

// signature is what load_table records of a table, to notice a definition
// that changed between two attempts.
func (j *tableJob) signature() (cols, key string) {
	names := make([]string, len(j.cols))
	for i, c := range j.cols {
		names[i] = c.Name + " " + c.ColumnType
	}
	c, _ := json.Marshal(names)
	k, _ := json.Marshal(append([]string{j.keyName}, j.key...))
	return string(c), string(k)
}

// rangeWhere renders "key > lo AND key <= hi" for a composite key, in a
// form MariaDB's range optimizer uses: (a > ?) OR (a = ? AND b > ?) ...
func (j *tableJob) rangeWhere(lo, hi []any) (string, []any) {
	var conds []string
	var args []any
	if lo != nil {
		c, a := keyCompare(j.key, lo, ">", false)
		conds, args = append(conds, c), append(args, a...)
	}
	if hi != nil {
		c, a := keyCompare(j.key, hi, "<", true)
		conds, args = append(conds, c), append(args, a...)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// keyCompare renders key op vals in lexicographic order, with equality
// allowed when orEqual.
func keyCompare(key []string, vals []any, op string, orEqual bool) (string, []any) {
	var ors []string
	var args []any
	for i := range key {
		var ands []string
		for k := 0; k < i; k++ {
			ands = append(ands, QuoteIdent(key[k])+" = ?")
			args = append(args, vals[k])
		}
		ands = append(ands, QuoteIdent(key[i])+" "+op+" ?")
		args = append(args, vals[i])
		ors = append(ors, strings.Join(ands, " AND "))
	}
	if orEqual {
		var ands []string
		for k := range key {
			ands = append(ands, QuoteIdent(key[k])+" = ?")
			args = append(args, vals[k])
		}
		ors = append(ors, strings.Join(ands, " AND "))
	}
	if len(ors) == 1 {
		return ors[0], args
	}
	return "((" + strings.Join(ors, ") OR (") + "))", args
}

// splitChunk shrinks pending chunk r to (lo, at] and records the rest,
// (at, hi], as a new pending chunk, in one target transaction: the
// recorded chunks always cover the whole key space. Transient target
// errors are retried; a split whose COMMIT did land is recognised.
func splitChunk(ctx context.Context, target *sql.DB, cfg Config, j *tableJob, r chunkRec, at string) (chunkRec, error) {
	b := retry.New(200*time.Millisecond, 10*time.Second)
	for try := 1; ; try++ {
		next, err := splitOnce(ctx, target, cfg, j, r, at)
		if err == nil || !isTransient(err) || try >= 8 || ctx.Err() != nil {
			return next, err
		}
		if err := retry.Sleep(ctx, b.NextBackOff()); err != nil {
			return chunkRec{}, err
		}
	}
}

func splitOnce(ctx context.Context, target *sql.DB, cfg Config, j *tableJob, r chunkRec, at string) (chunkRec, error) {
	fail := func(err error) (chunkRec, error) {
		return chunkRec{}, fmt.Errorf("split chunk %d of %s: %w", r.seq, j, err)
	}
	tx, err := target.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	var hi sql.NullString
	var done bool
	err = tx.QueryRowContext(ctx, `SELECT hi_key, done FROM dmplan_meta.load_chunk
		WHERE task = ? AND source = ? AND src_schema = ? AND src_table = ? AND seq = ? FOR UPDATE`,
		cfg.Task, cfg.Source, j.src.Schema, j.src.Name, r.seq).Scan(&hi, &done)
	if errors.Is(err, sql.ErrNoRows) || done {
		return chunkRec{}, Permanent(fmt.Errorf("split chunk %d of %s: it is done or gone: is another dmplan running the same subtask?", r.seq, j))
	}
	if err != nil {
		return fail(err)
	}
	if hi.Valid && hi.String == at { // an earlier try committed
		var seq uint32
		if err := tx.QueryRowContext(ctx, `SELECT seq FROM dmplan_meta.load_chunk
			WHERE task = ? AND source = ? AND src_schema = ? AND src_table = ? AND lo_key = ? AND done = 0`,
			cfg.Task, cfg.Source, j.src.Schema, j.src.Name, at).Scan(&seq); err != nil {
			return fail(err)
		}
		j.maxSeq = max(j.maxSeq, seq)
		return chunkRec{seq: seq, lo: &at, hi: r.hi}, nil
	}
	next := chunkRec{seq: j.maxSeq + 1, lo: &at, hi: r.hi}
	if _, err := tx.ExecContext(ctx, `UPDATE dmplan_meta.load_chunk SET hi_key = ?
		WHERE task = ? AND source = ? AND src_schema = ? AND src_table = ? AND seq = ?`,
		at, cfg.Task, cfg.Source, j.src.Schema, j.src.Name, r.seq); err != nil {
		return fail(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO dmplan_meta.load_chunk (task, source, src_schema, src_table, seq, lo_key, hi_key)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, cfg.Task, cfg.Source, j.src.Schema, j.src.Name, next.seq, at, nullable(r.hi)); err != nil {
		return fail(err)
	}
	if err := commit(ctx, tx); err != nil {
		return fail(err)
	}
	j.maxSeq = next.seq
	return next, nil
}

func nullable(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}
