package units

import (
	"context"
	"database/sql"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dmplan/dmplan/internal/tablefilter"
)

// dumper copies one subtask's tables: readers on snapshot connections cut
// tables into chunks, loaders write them, through a bounded channel.
type dumper struct {
	cfg    Config
	opts   *DumpLoadOptions
	src    *sql.DB
	raws   *rawConns   // src's connections for raw chunk queries; nil with TLS (conn_rawquery.go)
	rawOff atomic.Bool // a raw result was not understood: later attempts read through the driver
	target *sql.DB
	filter tablefilter.Filter
	router tablefilter.Router
	r      Reporter
	log    *slog.Logger
	only   map[tableRef]bool // when set, copy only these tables (sync_newtables.go)

	// snapID and snapPos are set once snapReady is closed (snapErr nil).
	snapID    uint32
	snapPos   Position
	snapReady chan struct{}
	snapErr   error
	chunks    *chunkQueue
	bufs      *partBufs
	// keys still to add to target tables after their load (load_keys.go),
	// read in plan; tableLoaded is called when a table's last chunk is in
	keys        map[tableRef][]string
	tableLoaded func(j *tableJob)

	tablesTotal         int
	tailInsert          bool // the end of a copy goes by INSERT (chunkMethod)
	tablesDoneN         atomic.Int64
	rowsDone, rowsTotal atomic.Int64
	bytes               atomic.Int64
	lastErr             atomic.Value // string
}

// run copies jobs: it returns when every pending chunk is loaded or on the
// first error (which stops everything else).
func (d *dumper) run(ctx context.Context, snap *snapshot, jobs []*tableJob) error {
	var todo []*tableJob
	var rowsDone, rowsTotal int64
	for _, j := range jobs {
		rowsDone += j.rowsDone
		rowsTotal += max(j.estimate, j.rowsDone)
		if len(j.pending) > 0 {
			todo = append(todo, j)
		}
	}
	d.tablesTotal = len(jobs)
	d.tablesDoneN.Store(int64(len(jobs) - len(todo)))
	d.rowsDone.Store(rowsDone)
	d.rowsTotal.Store(rowsTotal)
	// Biggest first, so that the last table to finish is a small one.
	slices.SortStableFunc(todo, func(a, b *tableJob) int { return int(min(max(b.estimate-a.estimate, -1), 1)) })
	method := d.pickMethods(ctx, todo)
	d.log.Info("copying tables", "tables", len(jobs), "to_copy", len(todo), "readers", len(snap.conns),
		"loaders", d.opts.Loaders, "method", method)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	fail := func(err error) {
		once.Do(func() { first = err; cancel(err) })
	}
	// A target table gets its deferred keys once every table of todo
	// routed to it is loaded, on a connection of its own while the other
	// tables load.
	var keysMu sync.Mutex
	waiting := map[tableRef]int{}
	for _, j := range todo {
		if _, ok := d.keys[j.dst]; ok {
			waiting[j.dst]++
		}
	}
	d.tableLoaded = func(j *tableJob) {
		keysMu.Lock()
		keys, ok := d.keys[j.dst]
		waiting[j.dst]--
		ready := ok && waiting[j.dst] == 0
		keysMu.Unlock()
		if !ready {
			return
		}
		wg.Go(func() { // the caller is a reader or loader still counted: never after wg.Wait
			if err := d.addDeferredKeys(ctx, j.dst, keys); err != nil {
				fail(err)
				return
			}
			keysMu.Lock()
			delete(d.keys, j.dst)
			keysMu.Unlock()
		})
	}
	defer func() { d.tableLoaded = nil }()
	queue := make(chan *tableJob, len(todo))
	for _, j := range todo {
		queue <- j
	}
	close(queue)
	d.chunks = newChunkQueue(ctx, d.opts.Loaders)
	d.bufs = newPartBufs(d.opts)
	defer d.bufs.release() // after wg.Wait below: no reader or loader holds a part then
	var readers sync.WaitGroup
	for i, c := range snap.conns {
		rd := &reader{d: d, conn: c, raw: snap.raws[i]}
		readers.Go(func() {
			for j := range queue {
				if err := rd.dumpTable(ctx, j); err != nil {
					fail(err)
					return
				}
				rd.warm = true
			}
		})
	}
	for range d.opts.Loaders {
		l := &loader{d: d}
		wg.Go(func() {
			defer l.close()
			// Its connection and session are set up while the snapshot
			// is recorded and the first chunks read (load retries it).
			_ = l.connect(ctx)
			if err := d.waitSnapshot(ctx); err != nil {
				fail(err)
			}
			for c := d.chunks.take(); c != nil; c = d.chunks.take() {
				if ctx.Err() != nil {
					d.chunks.done(c)
					d.bufs.put(c)
					continue // drain, so that readers never block
				}
				t0 := time.Now()
				err := l.loadRetrying(ctx, c)
				d.chunks.done(c)
				d.bufs.put(c)
				if err != nil {
					fail(err)
					continue
				}
				d.log.Debug("chunk loaded", "table", c.job.String(), "seq", c.rec.seq, "rows", c.rows, "took", time.Since(t0))
				d.rowsDone.Add(c.rows)
				d.bytes.Add(c.bytes)
				d.chunkDone(c.job)
				if d.opts.afterChunk != nil {
					d.opts.afterChunk(c.rec.seq, c.job)
				}
			}
		})
	}
	stop := make(chan struct{})
	wg.Go(func() {
		if d.waitSnapshot(ctx) != nil {
			return
		}
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				d.report("load", d.tablesTotal, int(d.tablesDoneN.Load()))
			case <-stop:
				return
			}
		}
	})
	readers.Wait()
	d.chunks.close()
	close(stop)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// waitSnapshot waits until the snapshot is recorded (attempt).
func (d *dumper) waitSnapshot(ctx context.Context) error {
	select {
	case <-d.snapReady:
		return d.snapErr
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// send hands a chunk to the loaders.
func (d *dumper) send(ctx context.Context, c *chunk) error {
	c.job.inflight.Add(1)
	if err := d.chunks.put(ctx, c); err != nil {
		c.job.inflight.Add(-1)
		return err
	}
	return nil
}

// chunkDone counts a loaded chunk (or the end of a table's reading).
func (d *dumper) chunkDone(j *tableJob) {
	if j.inflight.Add(-1) == 0 {
		d.tablesDoneN.Add(1)
		d.log.Debug("table loaded", "table", j.String(), "into", j.dst.String())
		if d.tableLoaded != nil {
			d.tableLoaded(j)
		}
	}
}

// transient records a retried error for progress reports.
func (d *dumper) transient(err error) {
	d.lastErr.Store(err.Error())
	d.log.Warn("transient error, retrying", "err", err)
}

func (d *dumper) report(unit string, total, done int) {
	p := Progress{
		Unit:        unit,
		TablesTotal: total,
		TablesDone:  done,
		RowsDone:    d.rowsDone.Load(),
		RowsTotal:   max(d.rowsTotal.Load(), d.rowsDone.Load()),
		Bytes:       d.bytes.Load(),
		Position:    d.snapPos,
	}
	if s, ok := d.lastErr.Load().(string); ok {
		p.Err = s
	}
	d.r.Report(p)
}

// pickMethods chooses each table's load method, unless the options name
// one: LOAD DATA LOCAL when the target accepts it, else INSERT. A table
// with an AUTO_INCREMENT column is an exception when there are fewer
// tables than loaders: under innodb_autoinc_lock_mode 0 or 1 concurrent
// LOAD DATA statements into it take turns on the AUTO-INC lock while
// multi-row INSERTs do not (one 800k-row sysbench table: 1.41x
// mariadb-dump with LOAD DATA, 1.77x with INSERT).
func (d *dumper) pickMethods(ctx context.Context, todo []*tableJob) string {
	method, auto := d.opts.Method, d.opts.Method == ""
	var local, lockMode int
	if err := d.target.QueryRowContext(ctx, "SELECT @@local_infile, @@innodb_autoinc_lock_mode").Scan(&local, &lockMode); err != nil {
		local, lockMode = 0, 1
	}
	if auto {
		method = MethodInsert
		if local == 1 {
			method = MethodLoadData
		}
	}
	d.tailInsert = auto && method == MethodLoadData && lockMode != 2
	for _, j := range todo {
		j.method = method
		if d.tailInsert && len(todo) < d.opts.Loaders && j.def.hasAutoIncrement() {
			j.method = MethodInsert
		}
	}
	return method
}

// chunkLimit is how many rows the next chunk of j may hold: j.limit,
// except at the very end of a copy. Once fewer tables are left than
// loaders and j has less than Loaders×ChunkRows rows left to read (by the
// source's estimate), a loader would wait while the others load the last
// chunks, 20,000 rows each (one took 0.94 s alone at the end of an
// 8-table copy): those chunks are cut at ChunkRows/Loaders rows (5,000
// by default; not below 1,000), so that the last rows are shared by every
// loader. Only j's reader calls it.
func (d *dumper) chunkLimit(j *tableJob) int {
	n := int64(d.opts.Loaders)
	if int64(d.tablesTotal)-d.tablesDoneN.Load() < n && j.estimate-j.rowsDone-j.rowsRead < n*int64(d.opts.ChunkRows) {
		return min(j.limit, max(d.opts.ChunkRows/d.opts.Loaders, min(1000, d.opts.ChunkRows)))
	}
	return j.limit
}

// chunkMethod is how the next chunk of j is encoded: j's method, except
// at the end of a copy. Once fewer tables are left than loaders, the
// chunks of a table with an AUTO_INCREMENT column that pickMethods gave
// LOAD DATA are sent as INSERTs: LOAD DATA statements into one such table
// take turns on its AUTO-INC lock, and the last table would be loaded by
// one loader while the others wait (about 0.5 s of the 8 sysbench
// tables' copy).
func (d *dumper) chunkMethod(j *tableJob) string {
	if d.tailInsert && j.method == MethodLoadData && j.def.hasAutoIncrement() &&
		int64(d.tablesTotal)-d.tablesDoneN.Load() < int64(d.opts.Loaders) {
		return MethodInsert
	}
	return j.method
}
