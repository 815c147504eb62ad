package verify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dmplan/dmplan/units"
)

// Subtask is one task × source to compare, with its passwords resolved.
type Subtask struct {
	Task, Source string
	Mode         units.Mode
	From, To     units.Endpoint
	Flavor       string // "mysql", "mariadb" or "" (detected)
	Tables       []string
	Routes       []units.Route
	// Stalled, when set, says why the subtask's sync does not run now
	// (its observed stage is error, paused or stopped, or no agent serves
	// it): a chunk that differs is reported at once instead of waiting
	// Options.Wait for a checkpoint that will not move.
	Stalled string
}

// Options say what to compare and how.
type Options struct {
	// Subtasks are every subtask of the task (all of them, so that a
	// target table merged from several sources is known as such).
	Subtasks []Subtask
	// Source, when set, compares only the tables fed by that source; a
	// target table also fed by other sources is skipped with a note.
	Source string
	// Tables, when set, are table-filter patterns: a table is compared
	// when they match its target name or one of its source names.
	Tables []string

	Parallel     int           // chunks checked at once (default 4)
	ChunkRows    int           // rows per chunk (default 10,000)
	ChunkRetries int           // checks of a differing chunk before it is compared row by row (default 2)
	RowRetries   int           // checks of a differing row before it is reported (default 5)
	Wait         time.Duration // how long a re-check waits for a subtask's checkpoint (default 2m)
	MaxRows      int           // differing rows listed per table in the report (default 100; all go to FixSQL)
	Hash         Hash          // row hash (default HashCRC32C)

	// FixSQL, when set, receives REPLACE and DELETE statements that would
	// make the target equal to the sources. Nothing is executed.
	FixSQL io.Writer
	// Progress, when set, is called about every 200 ms and at the end.
	Progress func(Progress)
	Log      *slog.Logger
}

func (o *Options) defaults() {
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.ChunkRows <= 0 {
		o.ChunkRows = 10000
	}
	if o.ChunkRetries <= 0 {
		o.ChunkRetries = 2
	}
	if o.RowRetries <= 0 {
		o.RowRetries = 5
	}
	o.RowRetries = max(o.RowRetries, 2) // the last check reads the values reported
	if o.Wait <= 0 {
		o.Wait = 2 * time.Minute
	}
	if o.MaxRows <= 0 {
		o.MaxRows = 100
	}
	if o.Hash == "" {
		o.Hash = HashCRC32C
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Progress is how far a comparison is.
type Progress struct {
	Tables, TablesDone int
	Rows               int64 // source rows checksummed so far
	RowsTotal          int64 // estimate (information_schema)
	Elapsed            time.Duration
	Done               bool
}

// subtask is a Subtask with its source connections and checkpoint watch.
type subtask struct {
	Subtask
	src    *sql.DB
	flavor string
	state  units.SyncState
	ck     *checkpointWatch
}

// run is one comparison.
type run struct {
	opts   Options
	task   string
	target *sql.DB
	crc32c bool // every server has CRC32C()
	subs   []*subtask
	fix    *fixWriter
	rows   atomic.Int64
	start  time.Time
}

// ErrNotSynced: a subtask has not reached sync (or, in mode full, has not
// finished its load), so its target cannot be compared yet.
var ErrNotSynced = errors.New("not comparable yet")

// Run compares the tables and returns the report. An error is returned
// only when nothing could be compared (connections, etcd state, a subtask
// not yet syncing); a table that fails is reported with its error.
func Run(ctx context.Context, opts Options) (*Report, error) {
	opts.defaults()
	if len(opts.Subtasks) == 0 {
		return nil, errors.New("verify: the task has no subtasks")
	}
	switch opts.Hash {
	case HashCRC32C, HashCRC64, HashMD5:
	default:
		return nil, fmt.Errorf("verify: hash %q: want crc32c, crc64 or md5", opts.Hash)
	}
	r := &run{opts: opts, task: opts.Subtasks[0].Task, start: time.Now()}
	if opts.FixSQL != nil {
		r.fix = newFixWriter(opts.FixSQL, r.task)
	}
	defer r.close()
	if err := r.connect(ctx); err != nil {
		return nil, err
	}
	jobs, skipped, err := r.discover(ctx)
	if err != nil {
		return nil, err
	}
	rep := &Report{Task: r.task}
	var total int64
	for _, j := range jobs {
		total += j.estRows
	}
	var tablesDone atomic.Int64
	stopProgress := r.progress(len(jobs), &tablesDone, total)
	r.compare(ctx, jobs, &tablesDone)
	stopProgress()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	for _, j := range jobs {
		rep.Tables = append(rep.Tables, j.result())
	}
	rep.Tables = append(rep.Tables, skipped...)
	sort.Slice(rep.Tables, func(a, b int) bool { return rep.Tables[a].Table < rep.Tables[b].Table })
	rep.Rows = r.rows.Load()
	rep.Elapsed = time.Since(r.start)
	if r.fix != nil {
		if err := r.fix.close(); err != nil {
			return rep, fmt.Errorf("write fix SQL: %w", err)
		}
	}
	return rep, nil
}

func (r *run) close() {
	for _, s := range r.subs {
		if s.src != nil {
			s.src.Close()
		}
	}
	if r.target != nil {
		r.target.Close()
	}
}

// connect opens the target and every source, checks that every subtask
// can be compared, and picks the row hash every server can compute.
func (r *run) connect(ctx context.Context) error {
	to := r.opts.Subtasks[0].To
	for _, s := range r.opts.Subtasks {
		if s.To != to {
			return fmt.Errorf("verify task %s: its subtasks have different targets (%s, %s)", r.task, to, s.To)
		}
	}
	var err error
	if r.target, err = units.Open(to, 5*r.opts.Parallel+2); err != nil {
		return err
	}
	if err := r.target.PingContext(ctx); err != nil {
		return fmt.Errorf("verify task %s: connect to target %s: %w", r.task, to, err)
	}
	dbs := []*sql.DB{r.target}
	for _, st := range r.opts.Subtasks {
		s := &subtask{Subtask: st}
		r.subs = append(r.subs, s)
		if s.src, err = units.Open(st.From, 5*r.opts.Parallel+1); err != nil {
			return err
		}
		if err := s.src.PingContext(ctx); err != nil {
			return fmt.Errorf("verify %s/%s: connect to source %s: %w", st.Task, st.Source, st.From, err)
		}
		if s.flavor = st.Flavor; s.flavor == "" {
			if s.flavor, err = units.DetectFlavor(ctx, s.src); err != nil {
				return fmt.Errorf("verify %s/%s: %w", st.Task, st.Source, err)
			}
		}
		if s.state, err = units.ReadSyncState(ctx, r.target, st.Task, st.Source); err != nil {
			return fmt.Errorf("verify %s/%s: %w", st.Task, st.Source, err)
		}
		switch {
		case st.Mode == units.ModeFull && !s.state.LoadDone:
			return fmt.Errorf("verify %s/%s: its dump and load have not finished (mode full): %w; verify once \"dmplan status\" shows it finished", st.Task, st.Source, ErrNotSynced)
		case st.Mode != units.ModeFull && !s.state.Syncing:
			return fmt.Errorf("verify %s/%s: it is not syncing yet (no sync checkpoint in the target's dmplan_meta): %w; verify once \"dmplan status\" shows unit sync", st.Task, st.Source, ErrNotSynced)
		}
		s.ck = &checkpointWatch{target: r.target, task: st.Task, source: st.Source, syncing: st.Mode != units.ModeFull, stalled: st.Stalled}
		dbs = append(dbs, s.src)
	}
	r.crc32c = true
	for _, db := range dbs {
		var x sql.NullInt64
		if err := db.QueryRowContext(ctx, "SELECT CRC32C('')").Scan(&x); err != nil {
			r.crc32c = false // MySQL, MariaDB before 10.8
			break
		}
	}
	return nil
}

// xorFold says whether j's row hashes are folded with BIT_XOR: not for a
// keyless table (equal rows would cancel out) nor crc64 (its two CRCs are
// XOR-linear; it gets the exact sum).
func (r *run) xorFold(j *job) bool { return j.key != nil && r.opts.Hash != HashCRC64 }

// rowHash is the row hash expression of j's columns.
func (r *run) rowHash(j *job) string { return rowHash(j.cols, r.opts.Hash, r.crc32c) }

// progress reports every 200 ms until the returned func is called.
func (r *run) progress(tables int, done *atomic.Int64, total int64) func() {
	if r.opts.Progress == nil {
		return func() {}
	}
	stop := make(chan struct{})
	finished := make(chan struct{})
	snap := func(final bool) Progress {
		return Progress{Tables: tables, TablesDone: int(done.Load()), Rows: r.rows.Load(), RowsTotal: total,
			Elapsed: time.Since(r.start), Done: final}
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				r.opts.Progress(snap(true))
				return
			case <-t.C:
				r.opts.Progress(snap(false))
			}
		}
	}()
	return func() { close(stop); <-finished }
}

// compare checks every chunk of every job with Parallel workers. A chunk
// that differs is re-checked in the background (re-checks mostly wait for
// sync's checkpoint), by at most 4 x Parallel goroutines, so that the
// first pass keeps going.
func (r *run) compare(ctx context.Context, jobs []*job, tablesDone *atomic.Int64) {
	chunks := make(chan *chunk, r.opts.Parallel)
	rechecks := make(chan struct{}, 4*r.opts.Parallel)
	var wg, rwg sync.WaitGroup
	done := func(c *chunk, err error) {
		if err != nil && ctx.Err() == nil {
			c.job.fail(fmt.Errorf("chunk %s: %w", c, err))
		}
		if c.job.chunkDone() {
			tablesDone.Add(1)
		}
	}
	for i := 0; i < r.opts.Parallel; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range chunks {
				differs, err := r.firstCheck(ctx, c)
				if err != nil || !differs {
					done(c, err)
					continue
				}
				rechecks <- struct{}{}
				rwg.Add(1)
				go func() {
					defer rwg.Done()
					defer func() { <-rechecks }()
					done(c, r.recheck(ctx, c))
				}()
			}
		}()
	}
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		if j.skip {
			tablesDone.Add(1)
			continue
		}
		err := r.chunks(ctx, j, func(c *chunk) bool {
			j.chunkAdded()
			select {
			case chunks <- c:
				return true
			case <-ctx.Done():
				j.chunkDone()
				return false
			}
		})
		if err != nil && ctx.Err() == nil {
			j.fail(fmt.Errorf("cut into chunks: %w", err))
		}
		if j.producerDone() {
			tablesDone.Add(1)
		}
	}
	close(chunks)
	wg.Wait()
	rwg.Wait()
}
