package units

import (
	"context"
	"fmt"
	"time"
)

// dispatch hands a change to its worker, after a flush when it conflicts
// with a change in flight on another worker (sync_causality.go).
func (s *syncer) dispatch(ctx context.Context, c *syncChange) error {
	row := c.after
	if c.kind != changeInsert {
		row = c.before
	}
	wi := int(workerHash(c.tbl, row) % uint64(len(s.workers)))
	s.keys = changeKeys(s.keys[:0], c.tbl, c.before, c.after)
	done := s.doneOf
	if s.caus.conflict(s.keys, wi, done) || s.caus.full(done) {
		if err := s.flush(ctx); err != nil {
			return err
		}
	}
	c.size = changeSize(c)
	if err := s.budget.acquire(ctx, c.size, func() error { return s.handOutAll(ctx) }); err != nil {
		return err
	}
	s.recordTxn()
	s.sent[wi]++
	s.caus.add(s.keys, wi, s.sent[wi])
	f := s.fifo[wi]
	if n := len(f); n > 0 && f[n-1].txn == s.txnNo {
		f[n-1].endCount = s.sent[wi]
	} else {
		s.fifo[wi] = append(f, txnRun{txn: s.txnNo, endCount: s.sent[wi]})
	}
	s.pend[wi] = append(s.pend[wi], c)
	if !s.serialUntil.isZero() && c.seq.lessEq(s.serialUntil) {
		return s.flush(ctx)
	}
	if len(s.pend[wi]) >= maxHandout {
		return s.handOut(ctx, wi)
	}
	return nil
}

// maxHandout caps the changes handed to a worker at once.
const maxHandout = 64

// handOut sends worker w the changes gathered for it.
func (s *syncer) handOut(ctx context.Context, w int) error {
	if len(s.pend[w]) == 0 {
		return nil
	}
	select {
	case s.workers[w].in <- s.pend[w]:
	case err := <-s.werr:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
	s.pend[w] = nil
	return nil
}

// handOutAll sends every worker the changes gathered for it. Changes
// travel in slices of up to maxHandout, handed out when a slice is full,
// when the reader has nothing more for now, and before a flush.
func (s *syncer) handOutAll(ctx context.Context) error {
	for w := range s.pend {
		if err := s.handOut(ctx, w); err != nil {
			return err
		}
	}
	return nil
}

// handOutReady is handOutAll without waiting: a worker whose queue is
// full keeps its changes gathered, to be handed out later in a fuller
// slice (at the latest at the next tick, or at maxHandout). The reader
// goes idle after nearly every source transaction at a moderate rate;
// handing out a slice of a change or two each time filled a busy worker's
// queue with tiny slices and held its batches as small: over a link of
// 200 ms each way, where a batch costs two round trips, sync applied about
// 110 row changes a second (TestLinkSlowTarget).
func (s *syncer) handOutReady() {
	for w := range s.pend {
		if len(s.pend[w]) == 0 {
			continue
		}
		select {
		case s.workers[w].in <- s.pend[w]:
			s.pend[w] = nil
		default:
		}
	}
}

func (s *syncer) doneOf(w int) uint64 { return s.workers[w].done.Load() }

// recordTxn remembers where the current transaction starts, the first
// time one of its changes is handed out.
func (s *syncer) recordTxn() {
	if s.txnRecorded {
		return
	}
	s.txnRecorded = true
	p := s.txnStart
	p.GTID = s.gtidString()
	s.txns[s.txnNo] = txnRec{start: p, ts: s.txnTs, recv: s.txnRecv}
}

// flush waits until every worker has committed every change handed to it.
func (s *syncer) flush(ctx context.Context) error {
	if err := s.handOutAll(ctx); err != nil {
		return err
	}
	markers := make([]*syncChange, len(s.workers))
	for i, w := range s.workers {
		markers[i] = &syncChange{kind: changeFlush, done: make(chan struct{})}
		select {
		case w.in <- []*syncChange{markers[i]}:
		case err := <-s.werr:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, m := range markers {
		select {
		case <-m.done:
		case err := <-s.werr:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.caus.reset()
	for i := range s.fifo {
		s.fifo[i] = s.fifo[i][:0]
	}
	clear(s.txns)
	return nil
}

// safePoint is the resume point S: a transaction boundary before which
// every change is committed. It is the start of the oldest transaction
// with a change still in flight, or the last boundary read.
func (s *syncer) safePoint() (Position, *txnRec) {
	oldest := uint64(0)
	found := false
	for w, f := range s.fifo {
		done := s.doneOf(w)
		i := 0
		for i < len(f) && f[i].endCount <= done {
			i++
		}
		f = f[i:]
		s.fifo[w] = f
		if len(f) > 0 && (!found || f[0].txn < oldest) {
			oldest, found = f[0].txn, true
		}
	}
	if !found {
		clear(s.txns)
		return s.boundaryPos(), nil
	}
	for n := range s.txns {
		if n < oldest {
			delete(s.txns, n)
		}
	}
	rec, ok := s.txns[oldest]
	if !ok {
		// Cannot happen (every transaction with a change handed out is
		// recorded); the stored point is a safe answer.
		return s.saved, nil
	}
	return rec.start, &rec
}

// boundaryPos is the last transaction boundary read, with its GTID set
// (the stored resume point until the stream has passed a boundary).
func (s *syncer) boundaryPos() Position {
	if s.boundary.File == "" {
		return s.saved
	}
	p := s.boundary
	p.GTID = s.gtidString()
	return p
}

func (s *syncer) gtidString() string {
	if s.gset == nil {
		return ""
	}
	if s.gsetDirty {
		s.gsetStr, s.gsetDirty = s.gset.String(), false
	}
	return s.gsetStr
}

// tick updates the reported position and lag and saves the resume point
// about once a second.
func (s *syncer) tick(ctx context.Context) error {
	s.lastTick.Store(time.Now().UnixNano())
	s.handOutReady()
	pos, rec := s.safePoint()
	now := time.Now()
	if r := s.reading.Load(); r != 0 && now.Sub(time.Unix(0, r)) > streamSilence {
		return fmt.Errorf("read binlog at %s: nothing from the source for %v, not even a heartbeat: reconnecting", describePos(pos), streamSilence)
	}
	if !s.started.IsZero() && now.Sub(s.started) > 10*time.Second {
		s.prog.setErr("") // running fine again after a transient error
		s.started = time.Time{}
	}
	var lag time.Duration
	switch {
	case rec != nil:
		lag = lagOf(now, rec.ts, rec.recv)
	case s.pendingEvs != nil && s.pendingEvs() > 0 || s.inTxn:
		lag = lagOf(now, s.lastTs, s.lastRecv)
	}
	s.prog.set(pos, lag)
	if err := s.shardPoll(ctx); err != nil {
		return err
	}
	if now.Sub(s.lastSave) >= time.Second {
		return s.saveResume(ctx, false)
	}
	return nil
}

// lagOf estimates how long ago an event read at recv, stamped ts (whole
// seconds) on the source, was committed there: a lower bound.
func lagOf(now time.Time, ts uint32, recv time.Time) time.Duration {
	if ts == 0 {
		return 0
	}
	lag := now.Sub(recv)
	if l := now.Sub(time.Unix(int64(ts), 0)) - time.Second; l > lag {
		lag = l
	}
	return max(lag, 0)
}

// saveResume stores the resume point when it moved.
func (s *syncer) saveResume(ctx context.Context, final bool) error {
	pos, _ := s.safePoint()
	s.lastSave = time.Now()
	if err := s.endReplays(ctx, pos); err != nil {
		return err
	}
	pos = s.capResume(pos) // before a held shard DDL (shard.go)
	if pos != s.saved && pos.File != "" {
		if err := s.meta.saveResume(ctx, pos); err != nil {
			return err
		}
		s.saved = pos
	}
	if final {
		s.prog.set(s.saved, 0)
		s.log.Info("sync stopped", "at", describePos(s.saved), "rows", s.stats.rowsApplied.Load(), "transactions", s.stats.commits.Load())
	}
	return nil
}

// reshapeNow switches to the configured number of workers once the replay
// window is behind: every worker is flushed, so the boundary is a
// consistent point. The attempt then ends and the next one starts with
// the new workers.
func (s *syncer) reshapeNow(ctx context.Context) error {
	if err := s.flush(ctx); err != nil {
		return err
	}
	pos := s.boundaryPos()
	if err := s.meta.reshape(ctx, pos, s.reshapeTo); err != nil {
		return err
	}
	s.saved = pos
	s.log.Info("sync workers changed", "workers", s.reshapeTo, "at", describePos(pos))
	return errRestart
}

// errRestart ends an attempt so that the next one starts at once.
var errRestart = fmt.Errorf("sync restart requested")
