package units

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dmplan/dmplan/internal/retry"
	"github.com/dmplan/dmplan/internal/tablefilter"
	"github.com/go-sql-driver/mysql"
)

// Load methods.
const (
	MethodLoadData = "load-data" // LOAD DATA LOCAL INFILE streamed from memory
	MethodInsert   = "insert"    // multi-row INSERT statements
)

// DumpLoadOptions tune DumpLoad. The zero value picks the defaults, which
// were measured on a 2-core machine (docs/units.md, bench/fullcopy).
type DumpLoadOptions struct {
	Readers    int    // snapshot connections reading the source, one table each (default Loaders)
	Loaders    int    // target connections writing (default Config.DumpThreads, else 4)
	ChunkRows  int    // rows per chunk, one target transaction (default 20,000)
	ChunkBytes int    // bytes per chunk (default 4 MiB, less with many threads: 48 MiB / (Readers + 2·Loaders))
	PartBytes  int    // bytes per INSERT statement or streamed slice (default 1 MiB)
	InsertRows int    // rows per INSERT statement (default 2,000)
	Method     string // MethodLoadData or MethodInsert; "" picks LOAD DATA when the target allows local_infile
	// SkipTargetBinlog sets sql_log_bin=0 on loader connections: faster,
	// but the target's own replicas then miss the rows. Off by default.
	SkipTargetBinlog bool
	LoadRetries      int // tries per chunk on transient target errors (default 8)
	AttemptRetries   int // attempts (each from a new snapshot) without progress before giving up (default 6)

	afterChunk func(seq uint32, j *tableJob) // test hook: called after each chunk commits
	beforeKeys func(dst tableRef)            // test hook: called before deferred keys are added
	partMapped func(mapped int64)            // test hook: the part buffers' memory outside the heap grew (part_mem.go)
	// fence: the run's hold of the subtask lock (units.Run); each chunk's
	// COMMIT asserts it in the same round trip (fence.go)
	fence fence
	// metaReady: the caller has just made sure dmplan_meta exists (Run,
	// after its prechecks); the first attempt does not look again
	metaReady bool
}

func (o DumpLoadOptions) withDefaults(cfg Config) DumpLoadOptions {
	threads := cfg.DumpThreads
	if threads <= 0 {
		threads = 4
	}
	if o.Loaders <= 0 {
		o.Loaders = threads
	}
	if o.Readers <= 0 {
		// As many tables in flight as loaders: LOAD DATA into a table with
		// an AUTO_INCREMENT column holds a table lock for the statement
		// (innodb_autoinc_lock_mode=1, MariaDB's default), so the loaders
		// of one table take turns.
		o.Readers = o.Loaders
	}
	if o.ChunkRows <= 0 {
		o.ChunkRows = 20000
	}
	if o.ChunkBytes <= 0 {
		// About 48 MiB of chunks in flight at most, whatever the threads.
		o.ChunkBytes = min(max((48<<20)/(o.Readers+2*o.Loaders), 1<<20), 4<<20)
	}
	if o.PartBytes <= 0 {
		o.PartBytes = 1 << 20
	}
	if o.InsertRows <= 0 {
		o.InsertRows = 2000
	}
	if o.LoadRetries <= 0 {
		o.LoadRetries = 8
	}
	if o.AttemptRetries <= 0 {
		o.AttemptRetries = 6
	}
	return o
}

// DumpLoad copies the tables cfg selects from cfg.From to cfg.To and
// returns the binlog position sync must start from. It is idempotent and
// resumable: when dmplan_meta on the target says the load finished, it
// returns the recorded position at once; otherwise it loads the chunks not
// yet loaded, from a new snapshot. readLoadWindows tells sync which events
// the loaded rows already contain (docs/units.md, "Exactly once"). In
// mode full it reports Finished as soon as the load is recorded, before it
// closes its connections.
func DumpLoad(ctx context.Context, cfg Config, r Reporter, log *slog.Logger) (Position, error) {
	return DumpLoadWith(ctx, cfg, DumpLoadOptions{}, r, log)
}

// DumpLoadWith is DumpLoad with tuning options.
func DumpLoadWith(ctx context.Context, cfg Config, opts DumpLoadOptions, r Reporter, log *slog.Logger) (Position, error) {
	return dumpLoadTables(ctx, cfg, opts, nil, r, log)
}

// dumpLoadTables is DumpLoadWith; with only != nil it copies just those
// source tables (tables newly selected by the filter, sync_newtables.go), even
// when the load has finished, and keeps the recorded start position.
func dumpLoadTables(ctx context.Context, cfg Config, opts DumpLoadOptions, only map[tableRef]bool, r Reporter, log *slog.Logger) (Position, error) {
	opts = opts.withDefaults(cfg)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if r == nil {
		r = ReporterFunc(func(Progress) {})
	}
	log = log.With("task", cfg.Task, "source", cfg.Source)
	filter, err := tablefilter.Parse(cfg.Tables)
	if err != nil {
		return Position{}, Permanent(fmt.Errorf("dump %s/%s: table filter: %w", cfg.Task, cfg.Source, err))
	}
	routes := make([]tablefilter.Route, len(cfg.Routes))
	for i, rt := range cfg.Routes {
		routes[i] = tablefilter.Route{From: rt.From, To: rt.To}
	}
	router, err := tablefilter.ParseRoutes(routes)
	if err != nil {
		return Position{}, Permanent(fmt.Errorf("dump %s/%s: routes: %w", cfg.Task, cfg.Source, err))
	}
	st := newSteps()
	src, raws, err := openDumpSource(cfg.From, opts.Readers+2)
	if err != nil {
		return Position{}, err
	}
	defer src.Close()
	if lctn, err := readLowerCaseTableNames(ctx, src); err != nil {
		return Position{}, fmt.Errorf("dump %s/%s: source: %w", cfg.Task, cfg.Source, err)
	} else if lctn != 0 {
		filter, router = filter.Folded(), router.Folded() // names.go
	}
	st.mark("source_connect")
	target, err := openLoadTarget(cfg.To, opts.Loaders+opts.Readers+2, opts.fence.name != "") // loaders keep theirs; readers split chunks
	if err != nil {
		return Position{}, err
	}
	defer target.Close()
	st.log(log, "dump/load opened")

	d := &dumper{cfg: cfg, opts: &opts, src: src, raws: raws, target: target, filter: filter, router: router, r: r, log: log, only: only}
	b := retry.New(time.Second, 30*time.Second)
	failures := 0
	for {
		var progressBefore int64
		pos, err := d.attempt(ctx, &progressBefore)
		if err == nil {
			return pos, nil
		}
		if ctx.Err() != nil {
			return Position{}, ctx.Err()
		}
		if !retryable(err) {
			return Position{}, err
		}
		if d.rowsDone.Load() > progressBefore {
			failures = 0
			b.Reset()
		}
		failures++
		if failures >= opts.AttemptRetries {
			return Position{}, fmt.Errorf("dump/load %s/%s: giving up after %d attempts: %w", cfg.Task, cfg.Source, failures, err)
		}
		d.transient(err)
		delay := b.NextBackOff()
		log.Warn("dump/load attempt failed; resuming from a new snapshot", "err", err, "in", delay)
		if err := retry.Sleep(ctx, delay); err != nil {
			return Position{}, err
		}
	}
}

// retryable errors end an attempt; the next one resumes from a new
// snapshot.
func retryable(err error) bool {
	if isTransient(err) {
		return true
	}
	var me *mysql.MySQLError
	// DDL during the dump: the next snapshot sees the new definitions.
	return errors.As(err, &me) && (me.Number == 1412 || // table definition has changed
		me.Number == 1146) // table dropped after it was listed
}

// attempt runs one dump+load from one snapshot.
func (d *dumper) attempt(ctx context.Context, progressBefore *int64) (Position, error) {
	cfg := d.cfg
	t0 := time.Now()
	if d.opts.metaReady {
		d.opts.metaReady = false // a later attempt looks again
	} else if err := ensureMetaFor(ctx, d.target, cfg.Mode); err != nil {
		return Position{}, err
	}
	if pos, done, err := loadDone(ctx, d.target, cfg.Task, cfg.Source); err != nil || done && d.only == nil {
		return pos, err
	}
	flavor := cfg.Flavor
	if flavor == "" {
		f, err := DetectFlavor(ctx, d.src)
		if err != nil {
			return Position{}, err
		}
		flavor = f
	}
	d.report("dump", 0, 0)
	t1 := time.Now()
	raws := d.raws
	if d.rawOff.Load() {
		raws = nil // a raw result was not understood: this attempt reads through the driver
	}
	snap, err := takeSnapshot(ctx, d.src, flavor, d.opts.Readers, cfg.Mode != ModeFull, raws, d.log)
	if err != nil {
		return Position{}, err
	}
	defer snap.close()
	// The snapshot's GTID set and its dump_snapshot row are written while
	// the tables are planned and the first chunks read; loaders wait for
	// them before they load anything (a chunk names its snapshot).
	d.snapReady = make(chan struct{})
	d.snapErr = nil
	go func() {
		defer close(d.snapReady)
		err := snap.resolveGTID(ctx, d.src, flavor)
		if err == nil {
			d.snapID, err = recordSnapshot(ctx, d.target, cfg.Task, cfg.Source, snap.pos)
		}
		if err != nil {
			d.snapErr = err
			return
		}
		d.snapPos = snap.pos
		d.log.Info("snapshot taken", "file", snap.pos.File, "pos", snap.pos.Pos, "gtid", snap.pos.GTID, "method", snap.how, "connections", len(snap.conns))
	}()
	defer func() { <-d.snapReady }()
	t2 := time.Now()
	jobs, err := d.plan(ctx, snap.conns, flavor)
	if err != nil {
		return Position{}, err
	}
	d.log.Debug("tables planned", "meta", t1.Sub(t0), "snapshot", t2.Sub(t1), "plan", time.Since(t2))
	*progressBefore = d.rowsDone.Load()
	if err := d.run(ctx, snap, jobs); err != nil {
		return Position{}, err
	}
	if err := d.waitSnapshot(ctx); err != nil {
		return Position{}, err
	}
	return d.finish(ctx)
}

// finish records that the load is complete, with the position sync starts
// from: the oldest snapshot any loaded row comes from.
func (d *dumper) finish(ctx context.Context) (Position, error) {
	cfg := d.cfg
	// Keys of tables loaded in an earlier attempt (or whose tables no
	// longer have chunks): never a load_done before they exist.
	left, err := readDeferredKeys(ctx, d.target, cfg)
	if err != nil {
		return Position{}, err
	}
	for _, dst := range slices.SortedFunc(maps.Keys(left), func(a, b tableRef) int { return strings.Compare(a.String(), b.String()) }) {
		if err := d.addDeferredKeys(ctx, dst, left[dst]); err != nil {
			return Position{}, err
		}
	}
	var pending int
	if err := d.target.QueryRowContext(ctx, `SELECT COUNT(*) FROM dmplan_meta.load_chunk c JOIN dmplan_meta.load_table t
		USING (task, source, src_schema, src_table) WHERE c.task = ? AND c.source = ? AND c.done = 0`,
		cfg.Task, cfg.Source).Scan(&pending); err != nil {
		return Position{}, fmt.Errorf("finish load: %w", err)
	}
	w, err := loadWindowsOf(ctx, d.target, cfg.Task, cfg.Source)
	if err != nil {
		return Position{}, err
	}
	start := d.snapPos
	if !w.Start.IsZero() && ComparePositions(w.Start, start) < 0 {
		start = w.Start
	}
	if _, err := d.target.ExecContext(ctx, `INSERT INTO dmplan_meta.load_done (task, source, binlog_file, binlog_pos, gtid)
		VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE task = task`, cfg.Task, cfg.Source, start.File, start.Pos, start.GTID); err != nil {
		return Position{}, fmt.Errorf("finish load: %w", err)
	}
	d.log.Info("dump/load finished", "rows", d.rowsDone.Load(), "start_file", start.File, "start_pos", start.Pos,
		"start_gtid", start.GTID, "pending_chunks_of_dropped_tables", pending)
	d.report("load", d.tablesTotal, d.tablesTotal)
	pos, _, err := loadDone(ctx, d.target, cfg.Task, cfg.Source)
	if err == nil && cfg.Mode == ModeFull && d.only == nil {
		// Finished now, not after the connections are closed: status
		// shows it within a fraction of a second of the last commit.
		d.r.Report(Progress{Finished: true, Position: pos})
	}
	return pos, err
}

// plan lists and reads the selected tables, creates them on the target
// and reads their checkpoints.
func (d *dumper) plan(ctx context.Context, conns []*sql.Conn, flavor string) ([]*tableJob, error) {
	t0 := time.Now()
	src := conns[0]
	refs, err := listTables(ctx, src, d.filter.Match)
	if err != nil {
		return nil, err
	}
	tList := time.Now()
	var schemas []string
	for _, ref := range refs {
		if !slices.Contains(schemas, ref.Schema) {
			schemas = append(schemas, ref.Schema)
		}
	}
	estimates, err := rowEstimates(ctx, src, schemas)
	if err != nil {
		return nil, err
	}
	tEst := time.Now()
	if d.only != nil {
		refs = slices.DeleteFunc(refs, func(r tableRef) bool { return !d.only[r] })
	}
	// Two information_schema queries per table, on every snapshot
	// connection at once (they are idle until the copy starts).
	defs := make([]*Table, len(refs))
	errs := make([]error, len(refs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(refs) && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				defs[i], errs[i] = readTable(ctx, c, refs[i].Schema, refs[i].Name)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var jobs []*tableJob
	for i, ref := range refs {
		def, err := defs[i], errs[i]
		if errors.Is(err, ErrTableNotFound) {
			continue // dropped since it was listed
		}
		if err != nil {
			return nil, err
		}
		db, tbl := d.router.Route(ref.Schema, ref.Name)
		j := newTableJob(def, tableRef{db, tbl}, flavor)
		j.estimate = estimates[ref]
		jobs = append(jobs, j)
	}
	tRead := time.Now()
	st, err := readLoadState(ctx, d.target, d.cfg)
	if err != nil {
		return nil, err
	}
	if err := st.resolveChanged(ctx, d.target, d.cfg, jobs, d.log); err != nil {
		return nil, err
	}
	var kd *keyDeferral
	if d.only == nil { // tables copied while sync runs keep their keys
		kd = &keyDeferral{cfg: d.cfg}
	}
	tCreate := time.Now()
	created, err := createTargets(ctx, src, d.target, jobs, d.targetName, kd, d.log)
	if err != nil {
		return nil, err
	}
	tRegister := time.Now()
	if err := st.apply(ctx, d.target, d.cfg, jobs, created); err != nil {
		return nil, err
	}
	if d.keys, err = readDeferredKeys(ctx, d.target, d.cfg); err != nil {
		return nil, err
	}
	if err := setLoadCharsets(ctx, d.target, jobs); err != nil {
		return nil, err
	}
	d.log.Debug("plan steps", "list", tList.Sub(t0), "estimates", tEst.Sub(tList), "read_source", tRead.Sub(tEst), "read_state", tCreate.Sub(tRead), "create", tRegister.Sub(tCreate),
		"register", time.Since(tRegister))
	return jobs, nil
}

// rowEstimates reads the source's row estimates of the tables in schemas,
// one schema at a time: information_schema then opens only that schema's
// tables.
func rowEstimates(ctx context.Context, q querier, schemas []string) (map[tableRef]int64, error) {
	out := map[tableRef]int64{}
	for _, schema := range schemas {
		rows, err := q.QueryContext(ctx, `SELECT TABLE_NAME, COALESCE(TABLE_ROWS, 0) FROM information_schema.TABLES
			WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'`, schema)
		if err != nil {
			return nil, fmt.Errorf("read row estimates: %w", err)
		}
		for rows.Next() {
			t := tableRef{Schema: schema}
			var n int64
			if err := rows.Scan(&t.Name, &n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read row estimates: %w", err)
			}
			out[t] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read row estimates: %w", err)
		}
	}
	return out, nil
}
