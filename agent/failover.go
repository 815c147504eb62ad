package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
)

// campaign takes part in the election until ctx ends; when elected, the
// agent moves sources off dead agents and binds waiting ones. The election
// key is attached to the agent's lease, so a dead agent's candidacy ends
// with it.
func (a *agent) campaign(ctx context.Context, lease clientv3.LeaseID) {
	sess, err := concurrency.NewSession(a.cli, concurrency.WithLease(lease), concurrency.WithContext(ctx))
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("join the failover election", "err", err)
		}
		return
	}
	// Not sess.Close(): it would revoke the agent's lease. The session's
	// keepalive ends with ctx.
	el := concurrency.NewElection(sess, store.ElectionPrefix)
	if err := el.Campaign(ctx, a.cfg.Name); err != nil {
		if ctx.Err() == nil {
			a.log.Warn("failover election", "err", err)
		}
		return
	}
	a.log.Info("elected to reschedule sources of dead agents")
	if m := a.cfg.Metrics; m != nil {
		m.leader.Set(1)
		defer m.leader.Set(0)
	}
	a.lead(ctx)
}

// lead reschedules bounds whenever the live workers or the head change,
// and every FailoverPoll x 10 anyway (level-based: a missed event costs
// latency, never correctness).
func (a *agent) lead(ctx context.Context) {
	heads := a.store.WatchHead(ctx)
	workers := a.store.WatchWorkers(ctx)
	var last *store.Placement // what the last reschedule read: a small apply that moved no source or bound is not read again
	for {
		if err := a.reschedule(ctx, &last); err != nil {
			if ctx.Err() != nil {
				return
			}
			a.log.Warn("reschedule sources", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case _, ok := <-heads:
			if !ok {
				return
			}
		case _, ok := <-workers:
			if !ok {
				return
			}
		case <-a.cfg.Clock.After(10 * a.cfg.FailoverPoll):
		}
	}
}

// reschedule applies the bounds the planner schedules for the current
// sources and live workers, if they differ from the current ones. It reads
// only the placement (sources, bounds, workers: not the tasks), and
// writes only the bounds that move, through store.Rebind (an apply of
// those bounds, recorded in the history like every apply); it is
// recomputed when another apply won the race.
func (a *agent) reschedule(ctx context.Context, prev **store.Placement) error {
	for attempt := 0; ; attempt++ {
		pl, err := a.store.ReadPlacement(ctx, *prev)
		if err != nil {
			return err
		}
		*prev = pl
		if pl.Revision == 0 {
			return nil // nothing applied yet
		}
		cur := planner.State{Sources: pl.Sources, Bounds: pl.Bounds}
		p := planner.Diff(cur, cur, pl.Workers)
		if !p.HasChanges() {
			return nil
		}
		p.BaseRevision = pl.Revision
		host, _ := os.Hostname()
		rec, err := a.store.Rebind(ctx, pl, p.Desired.Bounds, store.ApplyRecord{
			Time: a.cfg.Clock.Now().UTC(), User: "agent:" + a.cfg.Name, Host: host,
			Summary: p.Summary(),
		})
		if errors.Is(err, store.ErrStale) && attempt < 10 {
			continue
		}
		if err != nil {
			return fmt.Errorf("reschedule sources: %w", err)
		}
		moves := boundMoves(pl.Bounds, p.Desired.Bounds)
		a.log.Info("rescheduled sources", "apply", rec.ID, "moves", len(moves), "keys", rec.Keys, "waiting", len(p.Waiting))
		a.log.Debug("rescheduled sources", "apply", rec.ID, "moves", moves, "waiting", p.Waiting)
		if m := a.cfg.Metrics; m != nil {
			m.rebinds.Add(float64(len(moves)))
		}
		return nil
	}
}

// boundMoves lists "source: from -> to" for every bound that changed.
func boundMoves(before, after map[string]string) []string {
	var out []string
	for src, to := range after {
		if from := before[src]; from != to {
			if from == "" {
				from = "(waiting)"
			}
			out = append(out, src+": "+from+" -> "+to)
		}
	}
	for src, from := range before {
		if _, ok := after[src]; !ok {
			out = append(out, src+": "+from+" -> (waiting)")
		}
	}
	slices.Sort(out)
	return out
}
