package units

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dmplan/dmplan/internal/binlogfilter"
	"github.com/dmplan/dmplan/internal/onlineddl"
	"github.com/dmplan/dmplan/internal/tablefilter"
	"github.com/dmplan/dmplan/units/relay"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// syncEnv is what the sync unit keeps across its attempts (an attempt
// ends at any error; the next one resumes from the checkpoint).
type syncEnv struct {
	cfg     Config
	log     *slog.Logger
	baseLog *slog.Logger // without task and source
	flavor  string
	filter  tablefilter.Filter
	router  tablefilter.Router
	// events: spec.filters (sync_filter.go); online: spec.onlineDDL's rules,
	// nil when off (sync_online.go)
	events *binlogfilter.Filter
	online *onlineddl.Rules
	stats  *syncStats
	prog   *syncProgress
	// checked: the prechecks passed (they run once per Run)
	checked bool
	// metaReady: the prechecks of this attempt just created dmplan_meta,
	// so the attempt's next steps need not look for it again
	metaReady bool
	// owned: the target tables this run registered (owners.go)
	owned *ownedTables
	// lctn: the source's lower_case_table_names (names.go)
	lctn int
	// serialUntil: after an apply error that is not a lost connection,
	// the next attempt applies changes one at a time up to the failed
	// batch, so causality imperfections (collations, foreign keys,
	// triggers) cannot fail it twice.
	serialUntil syncSeq
	// valid checks the rows sync applied (sync_validate.go); nil when
	// validation is off
	valid *validator
	// fence: the current attempt's hold of the subtask lock, while it
	// holds it; its dump/load commits assert it (fence.go)
	fence fence
}

// syncProgress is the sync unit's latest position and lag, for reports.
type syncProgress struct {
	mu  sync.Mutex
	pos Position
	lag time.Duration
	err string
}

func (p *syncProgress) set(pos Position, lag time.Duration) {
	p.mu.Lock()
	p.pos, p.lag = pos, lag
	p.mu.Unlock()
}

func (p *syncProgress) setErr(msg string) {
	p.mu.Lock()
	p.err = msg
	p.mu.Unlock()
}

func (p *syncProgress) get() (Position, time.Duration, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pos, p.lag, p.err
}

// txnRec is a source transaction with a change in flight: where a restart
// must begin to replay it.
type txnRec struct {
	start Position
	ts    uint32
	recv  time.Time
}

// txnRun: worker changes numbered up to endCount belong to transaction txn.
type txnRun struct {
	txn      uint64
	endCount uint64
}

// syncer is one attempt of the sync unit.
type syncer struct {
	*syncEnv
	target *sql.DB
	source *sql.DB
	meta   *syncMeta
	fence  fence // commits and DDL assert the run still holds the subtask lock (fence.go)

	windows      *loadWindows
	windowsUntil syncSeq // past it no load window matters

	tables *tableCache
	fkWins *groupWindows // fk_window.go
	routes map[tableRef]*srcRoute
	views  map[tableRef]string // source tables with a source view (sync_view.go)

	workers []*applyWorker
	werr    chan error
	caus    *causality
	sent    []uint64
	pend    [][]*syncChange // changes gathered for each worker, not yet handed out
	budget  *byteBudget     // bytes of changes handed out, not yet committed
	fifo    [][]txnRun
	txns    map[uint64]txnRec
	keys    []uint64

	// the stream
	file        string
	fileIdx     uint32
	inTxn       bool
	sawBegin    bool
	txnNo       uint64
	txnStart    Position
	txnGTID     string
	txnTs       uint32
	txnRecv     time.Time
	txnRecorded bool
	// txnStandalone: a statement of the group ends it (false for MariaDB
	// groups whose GTID event is not flagged standalone)
	txnStandalone bool
	gset          mysql.GTIDSet
	gsetStr       string
	gsetDirty     bool
	boundary      Position     // the last transaction boundary read (GTID filled by boundaryPos)
	reading       atomic.Int64 // since when the reader has waited on the source for the next event (heartbeats included), unix ns; 0 while it hands one over
	lastTick      atomic.Int64 // when the loop last ticked, unix ns (sync_stall.go)
	behind        atomic.Bool  // the last event read is more than a second old: catching up
	lastTs        uint32
	lastRecv      time.Time
	pendingEvs    func() int
	started       time.Time // when the attempt started

	// replay after a restart
	marks     []syncSeq
	maxMark   syncSeq
	reshapeTo int
	ddlDone   syncSeq
	pending   syncSeq
	pendingFP string
	lastSave  time.Time
	saved     Position

	// shard: shard DDL coordination (shard.go), nil when the task has none
	shard *shardSync
	// opt: optimistic shard DDL coordination (shard_optimistic.go)
	opt *optSync
}

// srcRoute is what becomes of a source table's changes.
type srcRoute struct {
	skip   bool
	dst    tableRef
	merged bool // the route merges several source tables into dst
	// registered: dst is recorded as written by this subtask (owners.go)
	registered bool
}

// attempt runs the sync unit from the stored checkpoint until ctx ends or
// an error. target is a pool from openSyncTarget.
func (e *syncEnv) attempt(ctx context.Context, target *sql.DB, f fence) (err error) {
	cfg := e.cfg
	ck, ok, err := readSyncCheckpoint(ctx, target, cfg.Task, cfg.Source)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("sync %s/%s: no checkpoint", cfg.Task, cfg.Source)
	}
	gen, err := bumpSyncGen(ctx, target, cfg.Task, cfg.Source)
	if err != nil {
		return err
	}
	source, err := Open(cfg.From, 2)
	if err != nil {
		return err
	}
	defer source.Close()
	if e.flavor == "" {
		if e.flavor, err = DetectFlavor(ctx, source); err != nil {
			return err
		}
	}
	if err := e.checkCascadesNow(ctx, source, target); err != nil {
		return err
	}
	s := &syncer{
		syncEnv: e, target: target, source: source, fence: f,
		meta:   &syncMeta{db: target, task: cfg.Task, source: cfg.Source, gen: gen},
		tables: newTableCache(), routes: map[tableRef]*srcRoute{},
		caus: newCausality(1 << 17), txns: map[uint64]txnRec{}, budget: newByteBudget(changeBudget),
		boundary: Position{File: ck.Resume.File, Pos: ck.Resume.Pos},
		ddlDone:  ck.DDL.seq(), pending: ck.PendingDDL.seq(), pendingFP: ck.PendingFP,
		saved: ck.Resume, started: time.Now(),
	}
	if err := s.prepareReplay(ctx, &ck); err != nil {
		return err
	}
	if err := s.loadViews(ctx); err != nil {
		return err
	}
	if err := s.initShard(ctx); err != nil {
		return err
	}
	if err := s.initOptimistic(ctx); err != nil {
		return err
	}
	if cfg.Mode == ModeAll {
		if s.windows, err = readLoadWindows(ctx, target, cfg.Task, cfg.Source); err != nil {
			return err
		}
		s.windowsUntil = seqAt(s.windows.Until.File, s.windows.Until.Pos, math.MaxUint32)
	}
	if err := s.initGTID(ctx, ck.Resume); err != nil {
		return err
	}
	e.prog.set(ck.Resume, 0)
	// The workers' marks end where their last applied row event ends; a
	// transaction's XID event follows (31 bytes), so marks at or before the
	// resume point mean there is nothing to replay: logged as 0.
	var replayUntil uint32
	if !s.maxMark.lessEq(seqAt(ck.Resume.File, ck.Resume.Pos, math.MaxUint32)) {
		replayUntil = s.maxMark.Pos
	}
	e.log.Info("sync starting", "from", describePos(ck.Resume), "workers", len(s.marks), "server_id", syncServerID(cfg),
		"flavor", e.flavor, "replay_until", replayUntil)

	st, err := s.openEvents(ctx, ck.Resume) // the source's binlog or its relay (sync_events.go)
	if err != nil {
		return err
	}
	defer st.Close()

	wctx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer func() {
		// Let the workers commit what they hold (briefly), then stop them
		// and leave the freshest resume point.
		clean := s.stopWorkers(err, stopWorkers, &wg)
		if clean {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
			if serr := s.saveResume(sctx, true); serr != nil && !errors.Is(serr, errSuperseded) {
				e.log.Warn("could not save the sync checkpoint at stop", "err", serr)
			}
			cancel()
		}
	}()
	if err := s.startWorkers(ctx, wctx, &wg, &ck); err != nil {
		return err
	}
	defer s.watchStall(ctx)()
	return s.loop(ctx, st)
}

// prepareReplay loads the per-worker marks and decides the worker count:
// the stored one while changes the marks cover are read again, then the
// configured one.
func (s *syncer) prepareReplay(ctx context.Context, ck *syncCheckpoint) error {
	want := s.cfg.SyncWorkers
	s.marks = make([]syncSeq, len(ck.Marks))
	for i, m := range ck.Marks {
		s.marks[i] = m.seq()
		if s.maxMark.less(s.marks[i]) {
			s.maxMark = s.marks[i]
		}
	}
	if len(s.marks) == want || want <= 0 {
		return nil
	}
	resume := seqAt(ck.Resume.File, ck.Resume.Pos, math.MaxUint32)
	if s.maxMark.lessEq(resume) {
		// Every mark is before the resume point: no change after it was
		// applied, so the workers can be reshaped right away.
		if err := s.meta.reshape(ctx, ck.Resume, want); err != nil {
			return err
		}
		s.marks = make([]syncSeq, want)
		ck.Marks = make([]workerMark, want)
		s.maxMark = syncSeq{}
		return nil
	}
	s.reshapeTo = want
	return nil
}

// initGTID sets the GTID set the stream starts with.
func (s *syncer) initGTID(ctx context.Context, p Position) error {
	g := p.GTID
	if g == "" && p.File != "" && s.flavor == mysql.MariaDBFlavor {
		var err error
		if g, err = gtidAt(ctx, s.source, p); err != nil {
			return err
		}
	}
	if g == "" && p.File != "" {
		return nil // unknown: positions alone are recorded (a partial set would mislead)
	}
	set, err := mysql.ParseGTIDSet(s.flavor, g)
	if err != nil {
		return Permanent(fmt.Errorf("sync %s/%s: GTID set %q: %w", s.cfg.Task, s.cfg.Source, g, err))
	}
	s.gset, s.gsetStr = set, set.String()
	return nil
}

func (s *syncer) startWorkers(ctx, wctx context.Context, wg *sync.WaitGroup, ck *syncCheckpoint) error {
	maxPacket := 4 << 20
	var mp int
	if err := s.target.QueryRowContext(ctx, "SELECT @@max_allowed_packet").Scan(&mp); err == nil && mp > 0 {
		maxPacket = mp - 16<<10
	}
	batch := max(s.cfg.SyncBatch, 1)
	n := len(s.marks)
	s.werr = make(chan error, n)
	s.sent = make([]uint64, n)
	s.pend = make([][]*syncChange, n)
	s.fifo = make([][]txnRun, n)
	for i := 0; i < n; i++ {
		conn, err := s.target.Conn(ctx)
		if err != nil {
			for _, w := range s.workers {
				w.conn.Close()
			}
			s.workers = nil
			return fmt.Errorf("sync %s/%s: connect to target: %w", s.cfg.Task, s.cfg.Source, err)
		}
		w := &applyWorker{
			id: i, in: make(chan []*syncChange, max(4, 4*batch/maxHandout)), conn: conn, task: s.cfg.Task, source: s.cfg.Source,
			mark: ck.Marks[i], batch: batch, maxTrip: min(maxPacket, 4<<20), maxPacket: maxPacket,
			stats: s.stats, log: s.log, behind: &s.behind, budget: s.budget, valid: s.valid,
			begin: fenceTimeoutSQL() + ";START TRANSACTION", end: s.fence.assertSQL() + ";COMMIT;SET SESSION wait_timeout=DEFAULT",
		}
		s.workers = append(s.workers, w)
	}
	for _, w := range s.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := w.run(wctx)
			if w.conn != nil {
				w.conn.Close()
			}
			if err != nil && wctx.Err() == nil {
				s.werr <- err
			}
		}()
	}
	return nil
}

// stopWorkers flushes the workers unless the attempt failed in one, then
// stops them. It reports whether every change handed out was committed.
func (s *syncer) stopWorkers(cause error, stop context.CancelFunc, wg *sync.WaitGroup) bool {
	clean := false
	var ae *errApply
	if len(s.workers) > 0 && !errors.As(cause, &ae) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		clean = s.flush(ctx) == nil
		cancel()
	}
	stop()
	wg.Wait()
	return clean
}

// loop reads events and hands them out until an error.
func (s *syncer) loop(ctx context.Context, st eventSource) error {
	type item struct {
		ev   *replication.BinlogEvent
		err  error
		recv time.Time
	}
	evs := make(chan item, 64)
	evBytes := newByteBudget(eventBudget)
	rctx, stopReader := context.WithCancel(ctx)
	defer stopReader()
	go func() {
		for {
			s.reading.Store(time.Now().UnixNano())
			ev, err := st.GetEvent(rctx)
			// Not waiting on the source while the event is handed over:
			// a hand-over that waits (appliers blocked on the target) is
			// no silence of the source.
			s.reading.Store(0)
			if err == nil && evBytes.acquire(rctx, int64(ev.Header.EventSize), nil) != nil {
				return
			}
			select {
			case evs <- item{ev, err, time.Now()}:
			case <-rctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	s.pendingEvs = func() int { return len(evs) }
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-s.werr:
			return err
		case it := <-evs:
			// Take what is queued without going through select for each
			// event (a busy stream queues many), up to a bound so that
			// ticks and worker errors are still seen.
			for n := 0; ; n++ {
				if it.err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					if errors.Is(it.err, relay.ErrGone) {
						return relayGone(s.cfg, s.boundaryPos(), it.err)
					}
					return streamError(it.err, s.boundaryPos(), syncServerID(s.cfg))
				}
				err := s.handle(ctx, it.ev, it.recv)
				evBytes.release(int64(it.ev.Header.EventSize))
				if err != nil {
					return err
				}
				if len(evs) == 0 || n == 256 {
					break
				}
				it = <-evs
			}
			if len(evs) == 0 {
				// Nothing more to read yet: hand out what was gathered.
				s.handOutReady()
			}
		case <-tick.C:
			if err := s.tick(ctx); err != nil {
				return err
			}
		}
	}
}
