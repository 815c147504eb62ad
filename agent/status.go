package agent

import (
	"context"
	"slices"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/reconciler"
	"github.com/dmplan/dmplan/units"
)

// publisher writes subtask statuses under the agent's lease: a change of
// stage, unit or error at once, progress at most once per StatusInterval per subtask,
// and every status again each DefaultStatusRefresh.
type publisher struct {
	a     *agent
	lease clientv3.LeaseID
	kick  chan struct{}

	mu      sync.Mutex
	entries map[planner.SubtaskID]*entry
	forgets map[planner.SubtaskID]bool
}

type entry struct {
	st      store.SubtaskStatus
	dirty   bool      // changed since the last write
	urgent  bool      // a stage change: write now
	written time.Time // last write
}

func newPublisher(a *agent, lease clientv3.LeaseID) *publisher {
	return &publisher{
		a: a, lease: lease, kick: make(chan struct{}, 1),
		entries: map[planner.SubtaskID]*entry{}, forgets: map[planner.SubtaskID]bool{},
	}
}

// report is the loop's Report: record, and wake the writer on a stage
// change.
func (p *publisher) report(st reconciler.Status, stateChanged bool) {
	s := p.toStore(st)
	p.mu.Lock()
	e := p.entries[st.ID]
	if e == nil {
		e = &entry{}
		p.entries[st.ID] = e
	}
	newErr := s.Error != "" && s.Error != e.st.Error
	if e.st.Stage != s.Stage || e.st.Error != s.Error || e.st.Unit != s.Unit || !slices.Equal(e.st.Orphaned, s.Orphaned) ||
		e.st.DivergentChanges == 0 && s.DivergentChanges > 0 || validationFailed(e.st) != validationFailed(s) ||
		e.st.ConfigFingerprint != s.ConfigFingerprint {
		stateChanged = true // a new stage, error, unit or config is written at once
	}
	e.st, e.dirty = s, true
	e.urgent = e.urgent || stateChanged
	delete(p.forgets, st.ID)
	p.mu.Unlock()
	if m := p.a.cfg.Metrics; m != nil && newErr {
		m.errors.WithLabelValues(st.ID.Task, st.ID.Source, string(s.Stage)).Inc()
	}
	if stateChanged {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
}

// forget is the loop's Forget: the status is deleted.
func (p *publisher) forget(id planner.SubtaskID) {
	p.mu.Lock()
	delete(p.entries, id)
	p.forgets[id] = true
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *publisher) toStore(st reconciler.Status) store.SubtaskStatus {
	pr := st.Progress
	errMsg := st.Error
	if errMsg == "" {
		errMsg = pr.Err
	}
	return store.SubtaskStatus{
		Task: st.ID.Task, Source: st.ID.Source, Worker: p.a.cfg.Name,
		Stage: st.Stage, Unit: pr.Unit,
		Progress: store.Progress{
			TablesDone: pr.TablesDone, TablesTotal: pr.TablesTotal,
			RowsDone: pr.RowsDone, RowsTotal: pr.RowsTotal, Bytes: pr.Bytes,
		},
		BinlogFile: pr.Position.File, BinlogPos: pr.Position.Pos, GTID: pr.Position.GTID,
		LagSeconds:        pr.Lag.Seconds(),
		Error:             errMsg,
		Orphaned:          pr.Orphaned,
		DivergentChanges:  pr.Divergent,
		Validation:        storeValidation(pr.Validation),
		FilteredEvents:    pr.Filtered,
		ConfigFingerprint: st.ConfigFingerprint,
		UpdatedAt:         p.a.cfg.Clock.Now().UTC(),
	}
}

// storeValidation is the status form of the validator's report.
func storeValidation(v *units.Validation) *store.Validation {
	if v == nil {
		return nil
	}
	out := &store.Validation{Mode: v.Mode, Checked: v.Checked, Pending: v.Pending, Failed: v.Failed, Skipped: v.Skipped}
	for _, r := range v.Rows {
		out.Rows = append(out.Rows, store.ValidationRow{Table: r.Table, Key: r.Key, Kind: r.Kind, Columns: r.Columns,
			BinlogFile: r.Position.File, BinlogPos: r.Position.Pos, DetectedAt: r.Detected.UTC()})
	}
	return out
}

// validationFailed is the count of differing rows a status reports: a
// change of it is written at once.
func validationFailed(s store.SubtaskStatus) int64 {
	if s.Validation == nil {
		return 0
	}
	return s.Validation.Failed
}

// statusGather is the window in which stage changes are gathered into
// one write. The first change after a quiet spell is written at once (a
// copy's "finished" reaches etcd as soon as the loop knows it); changes
// that come within statusGather of that write wait for the end of the
// window and go together, so that the reports of a burst (an agent
// starting a hundred subtasks, each reporting "running" and then its
// unit's first progress) are a few transactions of their latest statuses,
// not one each.
const statusGather = 30 * time.Millisecond

// run writes what is due until ctx ends.
func (p *publisher) run(ctx context.Context) {
	tick := p.a.cfg.StatusInterval / 5
	var urgentAt time.Time // the last write of a stage change (zero: none yet)
	p.flush(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.kick:
			if wait := statusGather - p.a.cfg.Clock.Now().Sub(urgentAt); !urgentAt.IsZero() && wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-p.a.cfg.Clock.After(wait):
				}
			}
			p.flush(ctx)
			urgentAt = p.a.cfg.Clock.Now()
		case <-p.a.cfg.Clock.After(tick):
			p.flush(ctx)
		}
	}
}

// flush writes the statuses that are due and deletes forgotten ones.
func (p *publisher) flush(ctx context.Context) {
	now := p.a.cfg.Clock.Now()
	var puts []store.SubtaskStatus
	var dels []planner.SubtaskID
	p.mu.Lock()
	var relays map[string]units.RelayStatus
	if p.a.relays != nil {
		relays = p.a.relays.statuses()
	}
	for _, e := range p.entries {
		age := now.Sub(e.written)
		if e.urgent || (e.dirty && age >= p.a.cfg.StatusInterval) || age >= DefaultStatusRefresh {
			e.st.Relay = nil
			if rs, ok := relays[e.st.Source]; ok {
				e.st.Relay = &store.RelayStatus{
					BinlogFile: rs.Position.File, BinlogPos: rs.Position.Pos, GTID: rs.Position.GTID,
					LagSeconds: rs.Lag.Seconds(), DiskBytes: rs.DiskBytes, OldestFile: rs.OldestFile, Files: rs.Files,
					Gone: rs.Gone, Error: rs.Err,
				}
			}
			puts = append(puts, e.st)
			e.urgent, e.dirty, e.written = false, false, now
		}
	}
	for id := range p.forgets {
		dels = append(dels, id)
	}
	clear(p.forgets)
	p.mu.Unlock()
	if len(dels) > 0 {
		p.delete(ctx, dels)
	}
	if len(puts) == 0 {
		return
	}
	// One transaction per hundred statuses: a first apply of thousands of
	// subtasks costs etcd tens of raft entries per agent, not thousands.
	if failed, err := p.a.store.PutStatuses(ctx, p.lease, puts); err != nil && ctx.Err() == nil {
		p.a.log.Warn("write statuses", "count", len(failed), "first", failed[0].Task+"/"+failed[0].Source, "err", err)
		for _, st := range failed {
			p.redo(st)
		}
	}
}

// redo marks a status whose write failed to be written again.
func (p *publisher) redo(st store.SubtaskStatus) {
	id := planner.SubtaskID{Task: st.Task, Source: st.Source}
	p.mu.Lock()
	if e := p.entries[id]; e != nil {
		e.dirty, e.written = true, time.Time{}
	}
	p.mu.Unlock()
}

// delete removes the statuses of subtasks this agent no longer runs,
// unless another agent has written them since (the source moved): each
// delete checks that the status is still under this agent's lease. It
// reads nothing else, so its cost follows the subtasks that moved.
func (p *publisher) delete(ctx context.Context, ids []planner.SubtaskID) {
	for _, id := range ids {
		if err := p.a.store.DeleteOwnStatus(ctx, p.lease, id.Task, id.Source); err != nil && ctx.Err() == nil {
			p.a.log.Warn("delete status", "subtask", id.String(), "err", err)
		}
	}
}
