package units

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/dmplan/dmplan/internal/binlogfilter"
	"github.com/dmplan/dmplan/internal/onlineddl"
	"github.com/dmplan/dmplan/internal/retry"
	"github.com/dmplan/dmplan/internal/tablefilter"
)

// Run runs one subtask (one task x one source) until it is done (mode
// full) or ctx is cancelled (modes incremental and all, which replicate
// for ever):
//
//   - full: dump and load, report Finished, return nil;
//   - incremental: sync from the sync checkpoint; without one, from
//     cfg.Start (or cfg.StartTime), else from the source's current
//     position, stored at once as the first checkpoint (as Pin does);
//   - all: with a sync checkpoint, resume sync from it; otherwise dump and
//     load, then sync from the snapshot the load recorded.
//
// Cancelling ctx stops the units promptly; Run then returns ctx.Err()
// (context.Canceled), and every change applied so far is covered by the
// checkpoint in the target's dmplan_meta. Running again resumes from it,
// with no change lost or applied twice. Two runs of one subtask at once
// are safe: a run holds the target lock GET_LOCK('dmplan/<task>/<source>')
// (another run waits for it), and every checkpoint write is a
// compare-and-set that a superseded run cannot win.
//
// Transient errors (connections lost, servers restarting, deadlocks) are
// retried with backoff and reported in Progress.Err; a permanent one ends
// Run with an error that matches ErrPermanent, names the table and binlog
// position, and says what to do.
func Run(ctx context.Context, cfg Config, r Reporter, log *slog.Logger) error {
	if r == nil {
		r = ReporterFunc(func(Progress) {})
	}
	last := &lastReport{r: r, moved: time.Now()}
	r = last
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = withRunDefaults(cfg)
	env, err := newSyncEnv(cfg, log.With("task", cfg.Task, "source", cfg.Source))
	if err != nil {
		return err
	}
	env.baseLog = log // DumpLoad adds task and source itself
	log = env.log
	switch cfg.Mode {
	case ModeFull, ModeIncremental, ModeAll:
	default:
		return Permanent(fmt.Errorf("run %s/%s: unknown mode %q (want full, incremental or all)", cfg.Task, cfg.Source, cfg.Mode))
	}
	stopValidator, err := env.startValidator(ctx)
	if err != nil {
		return err
	}
	defer stopValidator()
	defer watchCopy(ctx, cfg, last, log)()
	var syncing atomic.Bool
	stopReports := make(chan struct{})
	defer close(stopReports)
	go env.report(r, &syncing, stopReports)

	b := retry.New(time.Second, 30*time.Second)
	for {
		applied := env.stats.rowsApplied.Load()
		began := time.Now()
		// The link watch ends the attempt when the source or target stops
		// answering (link.go); the retry resumes from the checkpoint.
		actx, stopWatch := watchLinks(ctx, cfg, log)
		err := env.runOnce(actx, r, &syncing)
		if lost := linkLost(actx); err != nil && lost != nil && ctx.Err() == nil {
			err = lost
		}
		stopWatch()
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, errRestart):
			continue
		case errors.Is(err, ErrPermanent):
			log.Error("subtask stopped", "err", err)
			env.prog.setErr(err.Error())
			env.reportNow(r, &syncing)
			return err
		}
		var ae *errApply
		if errors.As(err, &ae) && !isTransient(ae.err) && !errors.Is(ae.err, errSuperseded) {
			if !env.serialUntil.isZero() && ae.to.lessEq(env.serialUntil) {
				err = Permanent(fmt.Errorf("sync %s/%s: %w; it fails when applied alone too: make the target's table equal to the source's (or exclude the table) and resume",
					cfg.Task, cfg.Source, err))
				log.Error("subtask stopped", "err", err)
				env.prog.setErr(err.Error())
				env.reportNow(r, &syncing)
				return err
			}
			// Apply the failed stretch again one change at a time: an
			// ordering the causality hash missed cannot fail it twice.
			env.serialUntil = ae.to
			log.Warn("apply failed; replaying that stretch one change at a time", "err", err)
			env.prog.setErr(err.Error())
			last.retrying(err.Error())
			continue
		}
		if env.stats.rowsApplied.Load() > applied || time.Since(began) > time.Minute {
			b.Reset()
		}
		delay := b.NextBackOff()
		log.Warn("subtask attempt failed; retrying", "err", err, "in", delay)
		env.prog.setErr(err.Error())
		// Reported at once, whichever unit failed: the units report only
		// while they run, and a subtask that cannot reach a server must
		// not look healthy in status meanwhile.
		last.retrying(fmt.Sprintf("%s%s (retrying in %s)", err, retryAdvice(err), delay.Round(time.Second)))
		if err := retry.Sleep(ctx, delay); err != nil {
			return err
		}
	}
}

// retryAdvice says what to do about an error that is retried but will not
// clear by itself.
func retryAdvice(err error) string {
	switch errno(err) {
	case 1045: // ER_ACCESS_DENIED_ERROR
		return ": the server refuses this user and password: give the ${VAR} of this password the server's value " +
			"where you apply and where the agent runs (or its --env-file), then dmplan apply; or fix the user on the server"
	}
	return ""
}

// copyStallAfter is how long a run may report no progress before its
// progress watch looks at the target's sessions.
const copyStallAfter = 30 * time.Second

// watchCopy watches a run that reports no progress before sync (its
// prechecks, dump or load): when the target's sessions of its user wait
// for a lock (LOCK TABLES, FLUSH TABLES WITH READ LOCK, a long transaction
// — waits MariaDB lets last a day), it reports it with the last progress,
// as the sync unit's stall watch does (sync_stall.go); the unit's next
// report clears it. A run slow for another reason is not reported:
// nothing says it is stuck.
func watchCopy(ctx context.Context, cfg Config, last *lastReport, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	after := copyStallAfter
	if cfg.StallAfter > 0 {
		after = cfg.StallAfter
	}
	go func() {
		defer close(done)
		t := time.NewTicker(min(5*time.Second, after/2))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			p, still := last.stillFor()
			if p.Unit == "sync" || still < after {
				continue // sync has its own watch
			}
			db, err := Open(cfg.To, 1)
			if err != nil {
				continue
			}
			states, locked, err := targetSessions(ctx, db, cfg.To.User)
			db.Close()
			if err != nil || !locked {
				continue
			}
			what := p.Unit + " " + cfg.Task + "/" + cfg.Source + ": nothing copied"
			if p.Unit == "" {
				what = "start " + cfg.Task + "/" + cfg.Source + ": no progress"
			}
			msg := fmt.Sprintf("%s for %v: its sessions on the target %s wait for a lock (%s); %s",
				what, still.Round(time.Second), cfg.To, strings.Join(states, ", "), lockAdvice)
			log.Warn("copy is not getting on", "err", msg)
			last.stalled(msg)
		}
	}()
	return func() { cancel(); <-done }
}

// lastReport passes reports on and remembers the last one a unit made, so
// that an attempt that failed can be reported with its error against the
// unit that was running (Progress.Err), until a unit reports again.
type lastReport struct {
	r     Reporter
	mu    sync.Mutex
	p     Progress
	moved time.Time // when a unit's report last showed progress
	stall string    // what watchCopy said, until progress moves
}

func (l *lastReport) Report(p Progress) {
	l.mu.Lock()
	if p.Unit != "" {
		if o := l.p; p.Unit != o.Unit || p.TablesDone != o.TablesDone || p.RowsDone != o.RowsDone || p.Bytes != o.Bytes || p.Position != o.Position {
			l.moved, l.stall = time.Now(), ""
		}
		l.p = p
		if p.Err == "" {
			p.Err = l.stall // the units report while they wait, without it
		}
	}
	l.mu.Unlock()
	l.r.Report(p)
}

// stalled reports msg with the last unit's progress, and with its next
// reports until they show progress.
func (l *lastReport) stalled(msg string) {
	l.mu.Lock()
	l.stall = msg
	l.mu.Unlock()
	l.retrying(msg)
}

// stillFor returns the last unit's progress and how long it has not moved
// (since the run began, when no unit has reported yet).
func (l *lastReport) stillFor() (Progress, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.p, time.Since(l.moved)
}

// retrying reports the last unit's progress with the error of the attempt
// that failed.
func (l *lastReport) retrying(msg string) {
	l.mu.Lock()
	p := l.p
	l.mu.Unlock()
	p.Err, p.Orphaned, p.Finished = msg, nil, false
	l.r.Report(p)
}

func withRunDefaults(cfg Config) Config {
	if cfg.SyncWorkers <= 0 {
		cfg.SyncWorkers = 8
	}
	if cfg.SyncBatch <= 0 {
		cfg.SyncBatch = 100
	}
	if cfg.DumpThreads <= 0 {
		cfg.DumpThreads = 4
	}
	return cfg
}

func newSyncEnv(cfg Config, log *slog.Logger) (*syncEnv, error) {
	filter, err := tablefilter.Parse(cfg.Tables)
	if err != nil {
		return nil, Permanent(fmt.Errorf("run %s/%s: table filter: %w", cfg.Task, cfg.Source, err))
	}
	routes := make([]tablefilter.Route, len(cfg.Routes))
	for i, rt := range cfg.Routes {
		routes[i] = tablefilter.Route{From: rt.From, To: rt.To}
	}
	router, err := tablefilter.ParseRoutes(routes)
	if err != nil {
		return nil, Permanent(fmt.Errorf("run %s/%s: routes: %w", cfg.Task, cfg.Source, err))
	}
	events, err := binlogfilter.New(cfg.Filters)
	if err != nil {
		return nil, Permanent(fmt.Errorf("run %s/%s: spec.%w", cfg.Task, cfg.Source, err))
	}
	online, err := onlineddl.Compile(cfg.OnlineDDL)
	if err != nil {
		return nil, Permanent(fmt.Errorf("run %s/%s: spec.%w", cfg.Task, cfg.Source, err))
	}
	return &syncEnv{cfg: cfg, log: log, flavor: cfg.Flavor, filter: filter, router: router, events: events, online: online,
		stats: &syncStats{started: time.Now()}, prog: &syncProgress{}}, nil
}

// runOnce is one attempt at the subtask, under the subtask's target lock.
func (e *syncEnv) runOnce(ctx context.Context, r Reporter, syncing *atomic.Bool) error {
	cfg := e.cfg
	if !e.checked {
		t0 := time.Now()
		if err := precheckLogged(ctx, cfg, e.log); err != nil {
			return err
		}
		if err := e.readNameCase(ctx); err != nil {
			return err
		}
		e.checked, e.metaReady = true, true
		e.log.Debug("prechecked", "took", time.Since(t0))
	}
	defer func() { e.metaReady = false }()
	st := newSteps()
	target, err := openSyncTarget(cfg.To, cfg.SyncWorkers+4)
	if err != nil {
		return err
	}
	defer target.Close()
	return withSubtaskLock(ctx, target, cfg, e.log, e.prog, func(ctx context.Context, f fence) error {
		e.fence = f
		defer func() { e.fence = fence{} }()
		st.mark("lock")
		// A fresh change starts the subtask over; a filter change copies
		// the newly selected tables first (fresh.go, sync_newtables.go).
		if err := e.reconcileConfig(ctx, target, r); err != nil {
			return err
		}
		st.mark("config")
		// A checkpoint belongs to the server that wrote it (sync_identity.go).
		if err := e.checkSourceServer(ctx, target); err != nil {
			return err
		}
		st.mark("source_server")
		st.log(e.log, "subtask lock held, configuration checked")
		if cfg.Mode == ModeFull {
			pos, err := DumpLoadWith(ctx, cfg, DumpLoadOptions{fence: e.fence, metaReady: e.metaReady}, r, e.baseLog)
			if err != nil {
				return err
			}
			r.Report(Progress{Finished: true, Position: pos})
			return nil
		}
		if _, err := e.pinStart(ctx, target, r); err != nil {
			return err
		}
		syncing.Store(true)
		defer syncing.Store(false)
		return e.attempt(ctx, target, f)
	})
}

// report sends the sync unit's progress twice a second while it syncs.
func (e *syncEnv) report(r Reporter, syncing *atomic.Bool, stop <-chan struct{}) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if syncing.Load() {
				e.reportNow(r, syncing)
			}
		}
	}
}

func (e *syncEnv) reportNow(r Reporter, _ *atomic.Bool) {
	pos, lag, msg := e.prog.get()
	var v *Validation
	if e.valid != nil {
		v = e.valid.progress()
	}
	r.Report(Progress{Unit: "sync", RowsDone: e.stats.rowsApplied.Load(), Position: pos, Lag: lag, Err: msg,
		Divergent: e.stats.divergent.Load(), Validation: v,
		Filtered: e.stats.rowsFiltered.Load() + e.stats.ddlFiltered.Load()})
}

// startValidator starts the validator when the config asks for one; stop
// ends it and waits.
func (e *syncEnv) startValidator(ctx context.Context) (stop func(), err error) {
	switch e.cfg.Validate {
	case "", "none":
		return func() {}, nil
	case "fast", "full":
	default:
		return nil, Permanent(fmt.Errorf("run %s/%s: unknown validation mode %q (want none, fast or full)", e.cfg.Task, e.cfg.Source, e.cfg.Validate))
	}
	if e.cfg.Mode == ModeFull {
		return func() {}, nil // runs no sync
	}
	db, err := openSyncTarget(e.cfg.To, 2)
	if err != nil {
		return nil, err
	}
	e.valid = newValidator(e.cfg, db, e.log)
	vctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.valid.run(vctx)
	}()
	return func() {
		cancel()
		<-done
		db.Close()
	}, nil
}

// openSyncTarget opens the target pool the sync unit writes through:
// multi-statement round trips, matched (not changed) row counts, UTC, no
// foreign key checks (changes of different tables are applied in
// parallel), and a strict sql_mode that still stores every value the
// source stored (row images hold stored values; ALLOW_INVALID_DATES and no
// NO_ZERO_DATE keep dates the source kept): a value that does not fit is
// an error (the definitions differ), never a silent truncation.
func openSyncTarget(ep Endpoint, conns int) (*sql.DB, error) {
	c, err := syncTargetConfig(ep)
	if err != nil {
		return nil, err
	}
	return openDB(ep, c, conns, nil)
}

// syncTargetConfig is the driver configuration of openSyncTarget.
func syncTargetConfig(ep Endpoint) (*mysql.Config, error) {
	c, err := driverConfig(ep, "")
	if err != nil {
		return nil, err
	}
	c.MultiStatements = true
	c.ClientFoundRows = true
	if c.Params == nil {
		c.Params = map[string]string{}
	}
	c.Params["time_zone"] = "'+00:00'"
	c.Params["sql_mode"] = "'STRICT_ALL_TABLES,ALLOW_INVALID_DATES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'"
	c.Params["foreign_key_checks"] = "0"
	return c, nil
}
