package units

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dmplan/dmplan/internal/retry"
	"github.com/dmplan/dmplan/units/relay"
)

// Relay is one source's relay (docs/relay.md): Run keeps a local copy of
// the source's binlog in Dir, and the source's subtasks read it through
// Config.Relay instead of opening binlog streams of their own.
type Relay struct {
	dir string
	sig relay.Signal

	mu sync.Mutex
	st RelayStatus
}

// RelayStatus is what a relay reports (dmplan status).
type RelayStatus struct {
	Position   Position      // the end of the newest file the relay holds
	Source     Position      // where the source's binlog ended when last read
	Lag        time.Duration // how far behind the source the relay is (0: caught up)
	DiskBytes  int64         // the relay files' size
	OldestFile string        // the oldest file kept
	Files      int
	Gone       string // files up to this one are gone for good (Meta.Gone), with why
	Err        string // the last error, until the relay has run 10 s without one
}

// RelayConfig is what a relay runs with.
type RelayConfig struct {
	Source string
	From   Endpoint
	Flavor string // "" to detect
	// Retain: a file every subtask has passed is kept this long after its
	// last write (0: removed at once).
	Retain time.Duration
	// Floor is the free space the relay keeps on its file system (0: the
	// default, DefaultRelayFloor): below it the oldest files go, even
	// needed ones, and the subtasks that needed them stop with an error.
	Floor int64
	// ServerID is the server_id the relay reads with; 0 derives one from
	// the source name.
	ServerID uint32
	// LinkTimeout bounds the source's silence: the link watch (link.go)
	// asks the source every second on a connection of its own and ends the
	// attempt when no answer comes within it; the relay then starts again
	// from the end of its files. 0: DefaultLinkTimeout.
	LinkTimeout time.Duration
	// Subtasks returns the configs of the source's subtasks, every stage:
	// their checkpoints (in the targets) say where the relay starts and
	// what it may purge.
	Subtasks func() []Config
}

// DefaultRelayFloor is the free space a relay keeps: 5% of its file
// system, at most 1 GiB.
func defaultRelayFloor(total int64) int64 { return min(total/20, 1<<30) }

// relayCheckEvery is how often the relay reads the subtasks' needs and
// purges.
const relayCheckEvery = 10 * time.Second

// NewRelay returns the relay kept in dir (created when it runs).
func NewRelay(dir string) *Relay { return &Relay{dir: dir} }

// Dir is the relay directory.
func (r *Relay) Dir() string { return r.dir }

// Changed returns a channel closed when the relay may hold more.
func (r *Relay) Changed() <-chan struct{} { return r.sig.Wait() }

// Status returns the relay's latest status.
func (r *Relay) Status() RelayStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

func (r *Relay) setStatus(f func(*RelayStatus)) {
	r.mu.Lock()
	f(&r.st)
	r.mu.Unlock()
}

// errRelayRestart: start the stream again at once (an older file is needed).
var errRelayRestart = errors.New("the relay restarts its stream")

// Run keeps the relay until ctx ends, retrying errors with backoff.
func (r *Relay) Run(ctx context.Context, cfg RelayConfig, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("relay", cfg.Source)
	b := retry.New(time.Second, 30*time.Second)
	for {
		began := time.Now()
		err := r.attempt(ctx, cfg, log)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, errRelayRestart) {
			continue
		}
		if time.Since(began) > time.Minute {
			b.Reset()
		}
		delay := b.NextBackOff()
		log.Warn("relay stopped; retrying", "err", err, "in", delay)
		r.setStatus(func(s *RelayStatus) { s.Err = err.Error() })
		if err := retry.Sleep(ctx, delay); err != nil {
			return err
		}
	}
}

// watchRelayLink is the units' link watch (watchLinks) on the relay's one
// server, its source.
func watchRelayLink(ctx context.Context, cfg RelayConfig, log *slog.Logger) (context.Context, func()) {
	timeout := cfg.LinkTimeout
	if timeout <= 0 {
		timeout = DefaultLinkTimeout
	}
	actx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := watchLink(actx, "source", cfg.From, timeout); err != nil {
			log.Warn("link lost; the relay's attempt stops and starts again from the end of its files", "err", err)
			cancel(err)
		}
	})
	return actx, func() { cancel(nil); wg.Wait() }
}

func relayServerID(cfg RelayConfig) uint32 {
	if cfg.ServerID != 0 {
		return cfg.ServerID
	}
	return syncServerID(Config{Task: "\x00relay", Source: cfg.Source})
}

// attempt runs one binlog stream into the relay, under the source's link
// watch (a silent source ends it within cfg.LinkTimeout).
func (r *Relay) attempt(ctx context.Context, cfg RelayConfig, log *slog.Logger) (err error) {
	ctx, stopWatch := watchRelayLink(ctx, cfg, log)
	defer stopWatch()
	defer func() {
		if lost := linkLost(ctx); lost != nil {
			err = fmt.Errorf("relay %s: %w", cfg.Source, lost)
		}
	}()
	src, err := Open(cfg.From, 2)
	if err != nil {
		return err
	}
	defer src.Close()
	flavor := cfg.Flavor
	if flavor == "" {
		if flavor, err = DetectFlavor(ctx, src); err != nil {
			return err
		}
	}
	id, err := readServerIdentity(ctx, src, flavor)
	if err != nil {
		return err
	}
	w, err := relay.Open(r.dir, id.String(), flavor, &r.sig)
	if errors.Is(err, relay.ErrOtherServer) {
		aside := fmt.Sprintf("%s.replaced-%d", r.dir, time.Now().Unix())
		log.Warn("the source is another server than the relay's: its files are moved aside, the relay starts over", "err", err, "moved_to", aside)
		if err := os.Rename(r.dir, aside); err != nil {
			return fmt.Errorf("relay %s: move aside: %w", cfg.Source, err)
		}
		w, err = relay.Open(r.dir, id.String(), flavor, &r.sig)
	}
	if err != nil {
		return err
	}
	for _, rp := range w.Repaired {
		log.Warn("relay: repaired a torn tail: a file cut in the middle of an event (a crash mid-write), truncated to its last whole event",
			"file", rp.File, "cut_bytes", rp.Cut, "size", rp.Size)
	}
	defer func() {
		if cerr := w.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	need, known := r.needs(ctx, cfg, log)
	start, err := r.start(ctx, w, need, src, flavor)
	if err != nil {
		return err
	}
	if err := r.checkUpstream(ctx, w, start, src, log); err != nil {
		r.refresh(ctx, w, nil, flavor, start)
		return err
	}
	tc, err := binlogTLS(ctx, cfg.From, src)
	if err != nil {
		return err
	}
	bs, st, err := openRelayStream(cfg, flavor, start, tc, log)
	if err != nil {
		return r.streamFailed(w, start, err)
	}
	defer bs.Close()
	log.Info("relay reading the source's binlog", "from", describePos(start), "dir", r.dir, "server_id", relayServerID(cfg))
	r.refresh(ctx, w, src, flavor, start)
	r.purge(w, need, known, cfg, log)
	return r.pump(ctx, cfg, w, st, src, flavor, start, log)
}

// start is where the stream begins (docs/relay.md, "Where the relay
// starts"): the beginning of the oldest file a subtask needs when the
// relay does not hold it (nor gave it up) and it is older than the relay's
// oldest or newer than its newest file (every subtask is past the relay's
// files: a relay left behind by an earlier bound of the source), else the
// end of the newest file held unless that file is gone, else the
// beginning of the source's current file.
func (r *Relay) start(ctx context.Context, w *relay.Writer, need Position, src *sql.DB, flavor string) (Position, error) {
	files := w.Files()
	gone := w.Meta().Gone
	kept := func(f string) bool { return gone == "" || relay.CompareFiles(f, gone) > 0 }
	if need.File != "" && kept(need.File) && (len(files) == 0 || relay.CompareFiles(need.File, files[0]) < 0 ||
		relay.CompareFiles(need.File, files[len(files)-1]) > 0) {
		return Position{File: need.File, Pos: 4}, nil
	}
	if len(files) > 0 && kept(files[len(files)-1]) {
		f, p, err := w.Resume()
		return Position{File: f, Pos: p}, err
	}
	cur, err := currentPosition(ctx, src, flavor)
	if err != nil {
		return Position{}, err
	}
	return Position{File: cur.File, Pos: 4}, nil
}

// needs is the oldest position a subtask of the source still needs (its
// sync checkpoint, or in mode all before sync its oldest snapshot); known
// is false when a subtask's target could not be read.
func (r *Relay) needs(ctx context.Context, cfg RelayConfig, log *slog.Logger) (need Position, known bool) {
	known = true
	if cfg.Subtasks == nil {
		return need, true
	}
	for _, sc := range cfg.Subtasks() {
		p, ok, err := relayNeed(ctx, sc)
		if err != nil {
			log.Warn("relay: cannot read a subtask's checkpoint: no file counts as unneeded", "task", sc.Task, "err", err)
			known = false
			continue
		}
		if ok && p.File != "" && (need.File == "" || ComparePositions(p, need) < 0) {
			need = p
		}
	}
	return need, known
}

// RelayNeed is where subtask cfg would have a relay start (its sync
// checkpoint, or in mode all before sync its oldest snapshot, read from
// its target); ok is false when it has none yet. dmplan plan --refresh
// checks it against the source's binlog files.
func RelayNeed(ctx context.Context, cfg Config) (p Position, ok bool, err error) {
	return relayNeed(ctx, cfg)
}

// BinlogFiles lists the source's binlog files, oldest first.
func BinlogFiles(ctx context.Context, src *sql.DB) ([]string, error) { return binlogFiles(ctx, src) }

// relayNeed is the oldest position subtask cfg may still read from the
// relay; ok is false when it has none (it starts at the source's position
// when it starts, or reads by GTID from the source).
func relayNeed(ctx context.Context, cfg Config) (Position, bool, error) {
	if cfg.Mode == ModeFull {
		return Position{}, false, nil
	}
	db, err := Open(cfg.To, 1)
	if err != nil {
		return Position{}, false, err
	}
	defer db.Close()
	ck, ok, err := readSyncCheckpoint(ctx, db, cfg.Task, cfg.Source)
	if n := errno(err); n == 1146 || n == 1049 { // no dmplan_meta yet
		err, ok = nil, false
	}
	if err != nil || ok {
		return ck.Resume, ok && ck.Resume.File != "", err
	}
	if cfg.Mode != ModeAll {
		// No checkpoint yet: an incremental start by file position is
		// where it will read from.
		return cfg.Start, cfg.Start.File != "", nil
	}
	snaps, err := snapshotPositions(ctx, db, cfg.Task, cfg.Source)
	if n := errno(err); n == 1146 || n == 1049 {
		return Position{}, false, nil
	}
	if err != nil {
		return Position{}, false, err
	}
	var oldest Position
	for _, p := range snaps {
		if p.File != "" && (oldest.File == "" || ComparePositions(p, oldest) < 0) {
			oldest = p
		}
	}
	return oldest, oldest.File != "", nil
}

// checkUpstream makes sure the source still has the file the stream starts
// in. When it does not, the file is recorded gone (a subtask that needs
// it stops with a permanent error, docs/relay.md "Purge"), and the relay
// starts again elsewhere (errRelayRestart). A source whose files cannot be
// listed is left to the stream.
func (r *Relay) checkUpstream(ctx context.Context, w *relay.Writer, p Position, src *sql.DB, log *slog.Logger) error {
	files, err := binlogFiles(ctx, src)
	if err != nil || len(files) == 0 || slices.Contains(files, p.File) || relay.CompareFiles(p.File, files[len(files)-1]) > 0 {
		return nil
	}
	why := "the source purged it before the relay fetched it"
	if w.Holds(p.File) {
		why = "the source purged it before the relay had all of it"
	}
	if err := w.MarkGone(p.File, why); err != nil {
		return err
	}
	log.Error("relay: the source no longer has the binlog file the relay must read: recorded as gone; a subtask that needs it stops with a permanent error",
		"file", p.File, "why", why, "source_oldest", files[0])
	return fmt.Errorf("relay %s: the source no longer has %s (%s; its oldest is %s): %w", r.dir, describePos(p), why, files[0], errRelayRestart)
}

// streamFailed handles a stream that could not start at p: when the
// source no longer has p's file the relay records that the file is gone
// (subtasks needing it stop with an error) and starts again.
func (r *Relay) streamFailed(w *relay.Writer, p Position, err error) error {
	if errno(err) == 1236 && p.Pos == 4 && !w.Holds(p.File) {
		if merr := w.MarkGone(p.File, "the source purged it before the relay fetched it"); merr != nil {
			return merr
		}
		return fmt.Errorf("relay %s: %w (marked gone)", describePos(p), err)
	}
	return fmt.Errorf("relay: start binlog stream at %s: %w", describePos(p), err)
}

// openRelayStream streams the source's binlog from p without decoding the
// events (the relay stores them as they are), with MariaDB's annotate
// events, so the files are the source's byte for byte.
func openRelayStream(cfg RelayConfig, flavor string, p Position, tc *tls.Config, log *slog.Logger) (*binlogSyncer, *replication.BinlogStreamer, error) {
	dialer := &binlogDialer{}
	sc := replication.BinlogSyncerConfig{
		Dialer:    dialer.dial, // keepalive, TCP user timeout, bounded handshakes (conn_net.go)
		TLSConfig: tc, ServerID: relayServerID(cfg), Flavor: flavor,
		Host: cfg.From.Host, Port: uint16(cfg.From.Port), User: cfg.From.User, Password: cfg.From.Password,
		HeartbeatPeriod: time.Second, DisableRetrySync: true, EventCacheCount: 64,
		RawModeEnabled: true, VerifyChecksum: true,
		Logger: slog.New(warnOnly{log.Handler()}),
	}
	if flavor == mysql.MariaDBFlavor {
		sc.DumpCommandFlag = replication.BINLOG_SEND_ANNOTATE_ROWS_EVENT
	}
	s := &binlogSyncer{replication.NewBinlogSyncer(sc), dialer}
	st, err := s.StartSync(mysql.Position{Name: p.File, Pos: max(p.Pos, 4)})
	if err != nil {
		s.Close()
		if isTLSFailure(err) {
			return nil, nil, tlsError(cfg.From, err)
		}
		return nil, nil, err
	}
	return s, st, nil
}

// pump writes the stream's events into the relay until an error: a
// batch of queued events at a time, then flushed to the file system for
// the readers; fsynced and checkpointed every second.
func (r *Relay) pump(ctx context.Context, cfg RelayConfig, w *relay.Writer, st *replication.BinlogStreamer, src *sql.DB, flavor string, start Position, log *slog.Logger) error {
	type item struct {
		ev  *replication.BinlogEvent
		err error
	}
	evs := make(chan item, 256)
	budget := newByteBudget(eventBudget)
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		for {
			ev, err := st.GetEvent(rctx)
			if err == nil && budget.acquire(rctx, int64(len(ev.RawData)), nil) != nil {
				return
			}
			select {
			case evs <- item{ev, err}:
			case <-rctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	began := time.Now()
	lastCheck, heard := time.Now(), time.Now()
	var lastTs uint32
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case it := <-evs:
			for n := 0; ; n++ {
				if it.err != nil {
					return fmt.Errorf("relay: read binlog: %w", it.err)
				}
				heard = time.Now()
				if it.ev.Header.Timestamp != 0 && it.ev.Header.Flags&replication.LOG_EVENT_ARTIFICIAL_F == 0 {
					lastTs = it.ev.Header.Timestamp
				}
				err := w.Write(it.ev)
				budget.release(int64(len(it.ev.RawData)))
				if err != nil {
					return err
				}
				if len(evs) == 0 || n == 512 {
					break
				}
				it = <-evs
			}
			// Every batch goes to the file system and wakes the readers: a
			// stream that stays busy (a backlog) would otherwise reach them
			// only through the buffer's own flushes, which wake no one.
			if err := w.Flush(); err != nil {
				return err
			}
		case <-tick.C:
			if time.Since(heard) > streamSilence {
				return fmt.Errorf("relay: nothing from the source for %v, not even a heartbeat: reconnecting", streamSilence)
			}
			if err := w.Sync(); err != nil {
				return err
			}
			behind := len(evs) > 0 && lastTs != 0
			r.setStatus(func(s *RelayStatus) {
				if time.Since(began) > 10*time.Second {
					s.Err = "" // the last error is shown until the relay has run 10 s without one
				}
				s.Lag = 0
				if behind {
					s.Lag = max(0, time.Since(time.Unix(int64(lastTs), 0)))
				}
			})
			if time.Since(lastCheck) < relayCheckEvery {
				r.refresh(ctx, w, nil, flavor, start)
				continue
			}
			lastCheck = time.Now()
			r.refresh(ctx, w, src, flavor, start)
			need, known := r.needs(ctx, cfg, log)
			if files := w.Files(); need.File != "" && len(files) > 0 && relay.CompareFiles(need.File, files[0]) < 0 &&
				(w.Meta().Gone == "" || relay.CompareFiles(need.File, w.Meta().Gone) > 0) {
				log.Info("relay: a subtask needs an older file than the relay holds: fetching it from the source", "need", describePos(need))
				return errRelayRestart
			}
			r.purge(w, need, known, cfg, log)
		}
	}
}

// refresh updates the status from the files (and the source's position
// when src is given).
func (r *Relay) refresh(ctx context.Context, w *relay.Writer, src *sql.DB, flavor string, start Position) {
	files := w.Files()
	var disk int64
	for _, f := range files {
		if st, err := os.Stat(filepath.Join(r.dir, f)); err == nil {
			disk += st.Size()
		}
	}
	var cur Position
	var curOK bool
	if src != nil {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if p, err := currentPosition(qctx, src, ""); err == nil {
			cur, curOK = p, true
		}
		cancel()
	}
	m := w.Meta()
	f, p, _ := w.Resume()
	r.setStatus(func(s *RelayStatus) {
		s.Position = Position{File: f, Pos: p, GTID: m.GTID}
		s.DiskBytes, s.Files = disk, len(files)
		s.OldestFile = ""
		if len(files) > 0 {
			s.OldestFile = files[0]
		}
		if curOK {
			s.Source = cur
		}
		s.Gone = ""
		if m.Gone != "" {
			s.Gone = m.Gone + " (" + m.GoneWhy + ")"
		}
	})
}

// purge removes what the purge rule says (relay.Purge).
func (r *Relay) purge(w *relay.Writer, need Position, known bool, cfg RelayConfig, log *slog.Logger) {
	var in relay.PurgeInput
	for _, f := range w.Files() {
		st, err := os.Stat(filepath.Join(r.dir, f))
		if err != nil {
			continue
		}
		in.Files = append(in.Files, relay.FileInfo{Name: f, Size: st.Size(), ModTime: st.ModTime()})
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(r.dir, &fs); err != nil {
		log.Warn("relay: cannot read the free space", "err", err)
		return
	}
	in.Free = int64(fs.Bavail) * int64(fs.Bsize)
	in.Floor = cfg.Floor
	if in.Floor == 0 {
		in.Floor = defaultRelayFloor(int64(fs.Blocks) * int64(fs.Bsize))
	}
	in.Need, in.NeedKnown, in.Now, in.Retain = need.File, known, time.Now(), cfg.Retain
	remove, forced := relay.Purge(in)
	if len(forced) > 0 {
		last := forced[len(forced)-1]
		log.Error("relay: the disk is under the floor: purging files a subtask still needs; it will stop with an error",
			"files", forced, "free", in.Free, "floor", in.Floor)
		if err := w.MarkGone(last, fmt.Sprintf("purged at the disk floor: %d bytes free, floor %d", in.Free, in.Floor)); err != nil {
			log.Warn("relay: purge", "err", err)
			return
		}
		remove = append(remove, forced...)
	}
	if len(remove) == 0 {
		return
	}
	log.Info("relay: purging files", "files", remove)
	if err := w.Remove(remove); err != nil {
		log.Warn("relay: purge", "err", err)
	}
}
