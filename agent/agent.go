package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/dmplan/dmplan/internal/retry"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/reconciler"
)

// errLeaseLost ends an epoch whose lease is gone or may be.
var errLeaseLost = errors.New("lease lost")

// agent is one Run.
type agent struct {
	cfg   Config
	log   *slog.Logger
	store *store.Store
	cli   *clientv3.Client
	sec   *secrets

	prevLease clientv3.LeaseID // the lease of the previous epoch, revoked when found still alive
	relays    *relays          // the epoch's relays (relay.go)
	// curLease and registered: the epoch's lease and the registration written
	// under it (the reconcile loop writes it again when the relays held
	// here change).
	curLease   clientv3.LeaseID
	registered planner.Worker
	// view is what desired read last (only the reconcile loop uses it):
	// the next read returns it again when nothing of it changed.
	view *store.WorkerView
	// built is what desired built from view (desired.go).
	built builtView
}

// Run runs the agent until ctx ends: register under a lease, reconcile,
// report, take part in failover. When the lease is lost it stops every
// unit at once, registers under a new lease and goes on. On return (ctx
// ended) all units have stopped and the lease is revoked, so the agent's
// registration and statuses disappear at once and its sources move.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.fill(); err != nil {
		return err
	}
	a := &agent{
		cfg: cfg, cli: cfg.Client,
		log:   cfg.Logger.With("agent", cfg.Name),
		store: store.New(cfg.Client, cfg.StoreOptions...),
		sec:   newSecrets(cfg.Name, cfg.Getenv),
	}
	b := retry.New(100*time.Millisecond, 2*time.Second)
	for {
		start := a.cfg.Clock.Now()
		err := a.epoch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if a.cfg.Metrics != nil && errors.Is(err, errLeaseLost) {
			a.cfg.Metrics.leaseLosses.Inc()
		}
		if a.cfg.Clock.Now().Sub(start) > time.Minute {
			b.Reset()
		}
		delay := b.NextBackOff()
		a.log.Warn("agent stopped all its units; registering again", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-a.cfg.Clock.After(delay):
		}
	}
}

// epoch is the life of one lease: grant, register, reconcile until the
// lease is lost or ctx ends.
func (a *agent) epoch(ctx context.Context) error {
	lease, err := a.lease(ctx)
	if err != nil {
		return err
	}
	ectx, lost := context.WithCancelCause(ctx)
	defer lost(nil)
	defer func() {
		if ctx.Err() != nil { // clean shutdown: let others take over now
			rctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if _, err := a.cli.Revoke(rctx, lease); err != nil {
				a.log.Warn("revoke lease at shutdown; it expires by itself", "err", err)
			}
		}
	}()
	if err := a.keepAlive(ectx, lease, lost); err != nil {
		return err
	}
	a.relays = newRelays(ectx, a.cfg.RelayDir, a.log)
	defer a.relays.stop()
	if err := a.register(ectx, lease); err != nil {
		if cause := context.Cause(ectx); ctx.Err() == nil && cause != nil {
			return cause
		}
		return err
	}
	a.prevLease = lease
	a.log.Info("registered", "lease", fmt.Sprintf("%x", int64(lease)), "ttl", a.cfg.LeaseTTL, "address", a.cfg.Address)
	if a.cfg.Ready != nil {
		a.cfg.Ready()
	}

	pub := newPublisher(a, lease)
	loop := reconciler.NewLoop(reconciler.LoopConfig{
		Desired: a.desired,
		Run:     a.cfg.RunUnit,
		Pin:     a.cfg.PinUnit,
		Report:  pub.report,
		Forget:  pub.forget,
		Observe: a.observe,
		Log:     a.log, Clock: a.cfg.Clock, Resync: a.cfg.Resync,
		BackoffMin: a.cfg.BackoffMin, BackoffMax: a.cfg.BackoffMax,
	})
	if a.cfg.Metrics != nil {
		a.cfg.Metrics.setSource(loop.Statuses)
	}
	var wg sync.WaitGroup
	wg.Go(func() { pub.run(ectx) })
	wg.Go(func() {
		for range a.store.WatchHead(ectx) {
			loop.Wake()
		}
	})
	wg.Go(func() { a.campaign(ectx, lease) })
	if a.cfg.Wake != nil {
		wg.Go(func() {
			for {
				select {
				case <-ectx.Done():
					return
				case <-a.cfg.Wake:
					loop.Wake()
				}
			}
		})
	}
	loop.Run(ectx) // returns once every unit has stopped
	lost(nil)
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return context.Cause(ectx)
}

// lease returns the lease for a new epoch: the previous one when it is
// still alive (the agent stopped its units because etcd did not answer for
// a while, e.g. during a restart of etcd, but the lease survived: keeping
// it keeps the registration, so no source moves), else a new one.
func (a *agent) lease(ctx context.Context) (clientv3.LeaseID, error) {
	// Ask until etcd answers, for as long as the old lease may live (the
	// client may still be reconnecting to a restarted etcd).
	for prev, deadline := a.prevLease, a.cfg.Clock.Now().Add(a.cfg.LeaseTTL); prev != 0 && a.cfg.Clock.Now().Before(deadline); {
		tctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := a.cli.TimeToLive(tctx, prev)
		cancel()
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if err == nil {
			if resp.TTL > 0 {
				a.log.Info("the previous lease is still alive: keeping it", "lease", fmt.Sprintf("%x", int64(prev)))
				return prev, nil
			}
			break
		}
	}
	ttl := int64((a.cfg.LeaseTTL + time.Second - 1) / time.Second)
	grant, err := a.cli.Grant(ctx, ttl)
	if err != nil {
		return 0, fmt.Errorf("agent %q: grant lease: %w", a.cfg.Name, err)
	}
	return grant.ID, nil
}

// keepAlive keeps the lease alive and ends the epoch (lost) when the lease
// is gone (etcd answers that it does not know it) or when it may expire
// before the agent could know, so that the agent stops its units first.
//
// The agent sends its own keepalives (KeepAliveOnce, every TTL/3) and
// times each answer from when its request was sent: etcd renewed the lease
// after that moment, so the lease lives at least until send + TTL, however
// late the answer arrives. The units are stopped at send + 4/5 of the TTL
// of the last answered request. (Timing from the answer's arrival, as a
// stream of keepalives would, trusts a late answer for a renewal that may
// have happened seconds earlier.)
// keepAliveRetry is how soon a keepalive that got no answer is sent again.
const keepAliveRetry = 200 * time.Millisecond

func (a *agent) keepAlive(ctx context.Context, lease clientv3.LeaseID, lost context.CancelCauseFunc) error {
	fence := a.cfg.LeaseTTL * 4 / 5
	sent := a.cfg.Clock.Now()
	if _, err := a.cli.KeepAliveOnce(ctx, lease); err != nil {
		return fmt.Errorf("agent %q: keep lease alive: %w", a.cfg.Name, err)
	}
	go func() {
		valid := sent.Add(fence)
		answered := sent
		every := a.cfg.LeaseTTL / 3
		next := every
		for {
			// Wake up at the fence at the latest, to stop in time.
			if left := valid.Sub(a.cfg.Clock.Now()); left < next {
				next = max(left, 0)
			}
			select {
			case <-ctx.Done():
				return
			case <-a.cfg.Clock.After(next):
			}
			next = keepAliveRetry // until an answer comes
			sent := a.cfg.Clock.Now()
			if wait := valid.Sub(sent); wait > 0 {
				actx, cancel := context.WithTimeout(ctx, wait)
				_, err := a.cli.KeepAliveOnce(actx, lease)
				cancel()
				switch {
				case err == nil:
					valid, answered, next = sent.Add(fence), sent, every
				case ctx.Err() != nil:
					return
				case errors.Is(err, rpctypes.ErrLeaseNotFound):
					lost(fmt.Errorf("%w: the lease expired or was revoked", errLeaseLost))
					return
				}
			}
			if now := a.cfg.Clock.Now(); !now.Before(valid) {
				lost(fmt.Errorf("%w: no keepalive answer from etcd for %s (TTL %s)", errLeaseLost, now.Sub(answered).Round(time.Millisecond), a.cfg.LeaseTTL))
				return
			}
		}
	}()
	return nil
}

// register writes the worker key under lease. A live registration of the
// same name under another lease is either this agent's previous lease
// (alive again after it was given up: revoke it) or a previous process of
// the agent, killed: wait for its lease to expire.
func (a *agent) register(ctx context.Context, lease clientv3.LeaseID) error {
	w := planner.Worker{Name: a.cfg.Name, Address: a.cfg.Address, Relays: a.relays.heldSources()}
	warned := false
	for {
		err := a.store.RegisterWorker(ctx, w, lease)
		if err == nil {
			a.curLease, a.registered = lease, w
			return nil
		}
		if !errors.Is(err, store.ErrWorkerExists) {
			return fmt.Errorf("agent %q: %w", a.cfg.Name, err)
		}
		if a.prevLease != 0 && a.prevLease != lease {
			if _, err := a.cli.Revoke(ctx, a.prevLease); err == nil {
				a.log.Info("revoked the lease of this agent's previous registration")
			}
			a.prevLease = 0
			continue
		}
		if !warned {
			a.log.Warn("a live worker with this name is registered (a previous run of this agent, whose lease has not expired yet, or another agent with the same name); waiting", "name", a.cfg.Name)
			warned = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.cfg.Clock.After(500 * time.Millisecond):
		}
	}
}

// registerRelays writes the registration again when the sources whose
// relay directory the agent holds changed (a relay started here for a
// source new to it): the failover leader prefers this agent for them
// (planner.Schedule).
func (a *agent) registerRelays(ctx context.Context) {
	held := a.relays.heldSources()
	if slices.Equal(held, a.registered.Relays) || a.curLease == 0 {
		return
	}
	w := a.registered
	w.Relays = held
	if err := a.store.RegisterWorker(ctx, w, a.curLease); err != nil {
		a.log.Warn("register the relays held here", "relays", held, "err", err)
		return
	}
	a.registered = w
}

// observe counts reconciles and actions.
func (a *agent) observe(actions []reconciler.Action, err error) {
	if a.cfg.Metrics == nil {
		return
	}
	a.cfg.Metrics.observe(actions, err)
}
