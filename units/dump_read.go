package units

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// part is a run of encoded rows: a slice of a LOAD DATA file, or one
// complete INSERT statement.
type part struct {
	data []byte
	rows int
}

// chunk is the rows of one key range of one table, loaded in one target
// transaction together with its checkpoint. Keyed tables' chunks are
// bounded and held in memory (so a load can be retried on a new target
// connection); a table without a key is one chunk whose parts stream
// through a small channel while it loads.
type chunk struct {
	job    *tableJob
	method string // MethodLoadData or MethodInsert: how its parts are encoded
	rec    chunkRec
	parts  []part
	stream chan part // nil for in-memory chunks; closed by the reader on success only
	rows   int64
	bytes  int64
}

// partBufs recycles the buffers of one copy's parts once their chunk is
// loaded: without it a copy allocates (and the runtime clears) as many
// bytes as it moves. A buffer is only made when none is free, so the free
// ones and those in flight together never exceed the most that were in
// flight at once; they go with the copy (a package-wide sync.Pool, used
// before, kept none across a collection).
type partBufs struct {
	free chan []byte
	size int // room for a whole part and the row that ends it: append then never doubles a part
	mem  partMem
}

func newPartBufs(opts *DumpLoadOptions) *partBufs {
	perChunk := (opts.ChunkBytes+opts.PartBytes-1)/opts.PartBytes + 1
	return &partBufs{
		free: make(chan []byte, (opts.Readers+2*opts.Loaders)*perChunk),
		size: opts.PartBytes + opts.PartBytes/8,
		mem:  partMem{onMap: opts.partMapped},
	}
}

// get is an empty buffer with room for a part.
func (p *partBufs) get() []byte {
	select {
	case b := <-p.free:
		return b[:0]
	default:
		return p.mem.alloc(p.size)
	}
}

// release frees the buffers' memory once the copy's readers and loaders
// have all returned (partMem).
func (p *partBufs) release() { p.mem.release() }

// put takes back the buffers of a chunk that is loaded (or given up); the
// chunk must not be read again. Buffers grown far past a part (by a huge
// row) are left to the collector.
func (p *partBufs) put(c *chunk) {
	for i, pt := range c.parts {
		if n := cap(pt.data); n >= p.size && n <= 2*p.size {
			p.give(pt.data)
		}
		c.parts[i].data = nil
	}
	c.parts = nil
}

// give takes back one buffer.
func (p *partBufs) give(b []byte) {
	select {
	case p.free <- b[:0]:
	default:
	}
}

// encoder turns rows into parts.
type encoder struct {
	j       *tableJob
	method  string
	opts    *DumpLoadOptions
	bufs    *partBufs
	head    []byte // "INSERT INTO ... VALUES " (insert method)
	parts   []part
	cur     []byte
	own     []byte // the buffer cur started in, until a row outgrows it (add)
	curRows int
	rows    int64
	bytes   int64
	emit    func(part) error // streaming: called with each full part
}

func newEncoder(j *tableJob, opts *DumpLoadOptions, bufs *partBufs, method string) *encoder {
	e := &encoder{j: j, opts: opts, bufs: bufs, method: method}
	if method == MethodInsert {
		verb := "INSERT INTO "
		if j.replace {
			verb = "REPLACE INTO "
		}
		names := make([]string, len(j.cols))
		for i, c := range j.cols {
			names[i] = QuoteIdent(c.Name)
		}
		e.head = []byte(verb + j.dst.String() + " (" + strings.Join(names, ", ") + ") VALUES ")
	}
	return e
}

// add encodes one row (the select list: written columns first).
func (e *encoder) add(vals [][]byte) error {
	if e.cur == nil {
		e.cur = e.bufs.get()
		e.own = e.cur
	}
	before := len(e.cur)
	if e.method == MethodInsert {
		if e.curRows == 0 {
			e.cur = append(e.cur, e.head...)
		} else {
			e.cur = append(e.cur, ',')
		}
		e.cur = append(e.cur, '(')
		for i := range e.j.cols {
			if i > 0 {
				e.cur = append(e.cur, ',')
			}
			e.cur = appendSQL(e.cur, vals[i], e.j.kinds[i])
		}
		e.cur = append(e.cur, ')')
	} else {
		for i := range e.j.cols {
			if i > 0 {
				e.cur = append(e.cur, '\t')
			}
			e.cur = appendTSV(e.cur, vals[i], e.j.kinds[i])
		}
		e.cur = append(e.cur, '\n')
	}
	if e.own != nil && cap(e.cur) != cap(e.own) {
		// A row outgrew the part's buffer: append moved the part to the
		// Go heap, and the buffer goes back for another part (kept, it
		// would stay unused until the copy ends, part_mem.go).
		e.bufs.give(e.own)
		e.own = nil
	}
	e.curRows++
	e.rows++
	e.bytes += int64(len(e.cur) - before)
	if (e.method == MethodInsert && e.curRows >= e.opts.InsertRows) || len(e.cur) >= e.opts.PartBytes {
		return e.flush()
	}
	return nil
}

func (e *encoder) flush() error {
	if e.curRows == 0 {
		return nil
	}
	p := part{data: e.cur, rows: e.curRows}
	e.cur, e.own, e.curRows = nil, nil, 0
	if e.emit != nil {
		return e.emit(p)
	}
	e.parts = append(e.parts, p)
	return nil
}

// reader dumps tables on one snapshot connection.
type reader struct {
	d    *dumper
	conn *sql.Conn
	raw  *rawQuerier // conn's chunk queries below the driver, when it can (conn_rawquery.go)
	// warm: the reader has read a table before; its later tables start
	// at ChunkRows (firstChunkRows)
	warm bool
}

// dumpTable sends every pending chunk of j.
func (r *reader) dumpTable(ctx context.Context, j *tableJob) error {
	j.inflight.Add(1)
	if j.keyName == "" {
		if err := r.streamTable(ctx, j); err != nil {
			return err
		}
	}
	for _, rec := range j.pending {
		if j.keyName == "" {
			break
		}
		if err := r.dumpRange(ctx, j, rec); err != nil {
			return err
		}
	}
	r.d.chunkDone(j) // the reader's own count: the table is done when its chunks are
	return nil
}

// dumpRange reads the rows of rec's range in key order, in pieces of at
// most ChunkRows rows and ChunkBytes bytes. When a piece fills up, rec is
// split at the piece's last key and the rest is read as a new chunk.
func (r *reader) dumpRange(ctx context.Context, j *tableJob, rec chunkRec) error {
	opts := r.d.opts
	for {
		lo, hi, err := r.bounds(j, rec)
		if err != nil {
			return err
		}
		where, args := j.rangeWhere(lo, hi)
		if j.limit == 0 {
			j.limit = opts.ChunkRows
			if !r.warm {
				j.limit = firstChunkRows(opts.ChunkRows)
			}
		}
		limit := r.d.chunkLimit(j)
		q := j.selectSQL + where + j.orderBy + " LIMIT " + strconv.Itoa(limit)
		t0 := time.Now()
		e := newEncoder(j, opts, r.d.bufs, r.d.chunkMethod(j))
		var last [][]byte
		full := false
		err = r.queryRows(ctx, q, args, func(vals [][]byte) (bool, error) {
			if err := e.add(vals); err != nil {
				return false, err
			}
			byRows, byBytes := e.rows >= int64(limit), e.bytes >= int64(opts.ChunkBytes)
			if !byRows && !byBytes {
				return true, nil
			}
			// Rows past a cut are read for nothing: the LIMIT follows how
			// many rows fit in ChunkBytes.
			if byBytes {
				j.limit = int(e.rows + e.rows/2 + 1)
			} else {
				j.limit = min(2*j.limit, opts.ChunkRows)
			}
			last = make([][]byte, len(j.keyPos))
			for i, p := range j.keyPos {
				last[i] = append([]byte{}, vals[p]...)
			}
			full = true
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("dump %s: %w", j, err)
		}
		if err := e.flush(); err != nil {
			return fmt.Errorf("dump %s: %w", j, err)
		}
		c := &chunk{job: j, method: e.method, rec: rec, parts: e.parts, rows: e.rows, bytes: e.bytes}
		j.rowsRead += e.rows
		var next chunkRec
		var at string
		if full {
			at = encodeKey(last, j.keyBinary)
			// A recorded range that holds exactly ChunkRows rows is complete.
			full = rec.hi == nil || at != *rec.hi
		}
		if full {
			next, err = splitChunk(ctx, r.d.target, r.d.cfg, j, rec, at)
			if err != nil {
				return err
			}
			c.rec.hi = &at
		}
		t1 := time.Now()
		seq, n := c.rec.seq, c.rows // c belongs to its loader once sent
		if err := r.d.send(ctx, c); err != nil {
			return err
		}
		r.d.log.Debug("chunk read", "table", j.String(), "seq", seq, "rows", n,
			"read", t1.Sub(t0), "queued_after", time.Since(t1))
		if !full {
			return nil
		}
		rec = next
	}
}

// firstChunkRows is the LIMIT of the first chunk of a reader's first
// table: a sixteenth of ChunkRows (not below 1,000 rows; 1,250 by
// default), doubling with each full chunk up to ChunkRows. The loaders
// start while the readers are still on their first chunks, instead of
// waiting for 4 readers to read 20,000 rows each (with an eighth, the
// first commit came 60-100 ms later). A reader's later tables (biggest
// first, so smaller) start at ChunkRows: the loaders are busy by then, and
// every chunk has a fixed cost (docs/units.md, Figures).
func firstChunkRows(chunkRows int) int {
	if chunkRows/16 >= 1000 {
		return chunkRows / 16
	}
	return chunkRows
}

func (r *reader) bounds(j *tableJob, rec chunkRec) (lo, hi []any, err error) {
	if rec.lo != nil {
		if lo, err = decodeKey(*rec.lo, j.keyBinary); err != nil {
			return nil, nil, Permanent(fmt.Errorf("dump %s: %w", j, err))
		}
	}
	if rec.hi != nil {
		if hi, err = decodeKey(*rec.hi, j.keyBinary); err != nil {
			return nil, nil, Permanent(fmt.Errorf("dump %s: %w", j, err))
		}
	}
	return lo, hi, nil
}

// streamTable sends a table without a usable key as one chunk whose parts
// stream to the loader while they are read.
func (r *reader) streamTable(ctx context.Context, j *tableJob) error {
	if len(j.pending) == 0 {
		return nil
	}
	c := &chunk{job: j, method: j.method, rec: j.pending[0], stream: make(chan part, 2)}
	if err := r.d.send(ctx, c); err != nil {
		return err
	}
	e := newEncoder(j, r.d.opts, r.d.bufs, c.method)
	e.emit = func(p part) error {
		select {
		case c.stream <- p:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := r.queryRows(ctx, j.selectSQL, nil, func(vals [][]byte) (bool, error) {
		return true, e.add(vals)
	}); err != nil {
		return fmt.Errorf("dump %s: %w", j, err)
	}
	if err := e.flush(); err != nil {
		return err
	}
	close(c.stream) // only now: a closed stream means "complete"
	return nil
}

// queryRows runs q on the reader's snapshot connection and calls row with
// each row's values, until row returns false or an error. Values are the
// server's text (nil for NULL) straight from the connection's read
// buffer, valid until row returns. Without TLS the query and its result
// go below the driver too (rawQuerier), which would box every value and
// parse every integer; else the rows are read below database/sql, which
// would box, convert and copy every value once more (a third of the
// agent's CPU in a copy), and the integer and floating-point columns the
// driver hands over parsed are printed again: integers as the server's
// text, floats as the same value (Go's 1e+300 for the server's 1e300,
// TestRawQuery).
func (r *reader) queryRows(ctx context.Context, q string, args []any, row func(vals [][]byte) (bool, error)) error {
	return r.conn.Raw(func(dc any) error {
		if r.raw != nil {
			if ok, err := r.raw.query(ctx, q, args, row); ok {
				if errors.Is(err, errRawProtocol) && r.d != nil && !r.d.rawOff.Swap(true) {
					r.d.log.Warn("a result read below the driver was not understood: the next attempts read through the driver", "error", err)
				}
				return err
			}
		}
		qc, ok := dc.(driver.QueryerContext)
		if !ok {
			return fmt.Errorf("the driver's connection %T does not run queries", dc)
		}
		named := make([]driver.NamedValue, len(args))
		for i, a := range args {
			named[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
		}
		rows, err := qc.QueryContext(ctx, q, named)
		if err != nil {
			return err
		}
		defer rows.Close() // reads what is left of the result when row stopped early
		dest := make([]driver.Value, len(rows.Columns()))
		vals := make([][]byte, len(dest))
		var num []byte
		for {
			if err := rows.Next(dest); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
			num = num[:0]
			for i, v := range dest {
				at := len(num)
				switch v := v.(type) {
				case nil:
					vals[i] = nil
					continue
				case []byte:
					vals[i] = v
					continue
				case int64:
					num = strconv.AppendInt(num, v, 10)
				case uint64:
					num = strconv.AppendUint(num, v, 10)
				case float64:
					num = strconv.AppendFloat(num, v, 'g', -1, 64)
				case float32:
					num = strconv.AppendFloat(num, float64(v), 'g', -1, 32)
				default: // time.Time needs parseTime, which dmplan never sets
					return fmt.Errorf("column %d: unexpected value of type %T from the driver", i+1, v)
				}
				vals[i] = num[at:len(num):len(num)] // a later append may move num; this slice keeps its bytes
			}
			if more, err := row(vals); err != nil || !more {
				return err
			}
		}
	})
}
