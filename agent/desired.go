package agent

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/dmplan/dmplan/internal/effect"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/reconciler"
	"github.com/dmplan/dmplan/spec"
	"github.com/dmplan/dmplan/units"
)

// desired reads what this agent should run: the subtasks of the sources
// bound to it, with their configs, desired stages and fingerprints.
func (a *agent) desired(ctx context.Context) ([]reconciler.Desired, error) {
	v, err := a.store.ReadWorkerView(ctx, a.cfg.Name, a.view)
	if err != nil {
		return nil, err
	}
	a.view = v
	if len(v.Subtasks) > 0 && a.sec.hasher() == nil {
		h, err := a.store.Hasher(ctx)
		if err != nil {
			return nil, err
		}
		a.sec.setHasher(h)
	}
	out := a.built.build(v, a.sec, func(d *reconciler.Desired) {
		if d.Config.ShardMode != "" {
			d.Config.Shard = shardLocks{store: a.store, clock: a.cfg.Clock}
			d.Config.Schemas = shardLocks{store: a.store, clock: a.cfg.Clock}
		}
	})
	if a.relays != nil {
		a.relays.update(v.Sources, out, a.sec)
		a.registerRelays(ctx)
	}
	return out, nil
}

// build turns an applied subtask into what the units get.
func (s *secrets) build(id planner.SubtaskID, sub planner.Subtask, src spec.Source) reconciler.Desired {
	d := reconciler.Desired{ID: id, Stage: sub.Stage, ConfigFingerprint: planner.ConfigFingerprint(sub, &src)}
	from, fromDigest, err := s.endpoint(src.Endpoint, "source "+src.Name)
	if err != nil {
		d.Err = err.Error()
		d.Fingerprint = effect.FingerprintOf(planner.EffectConfig(sub, &src))
		return d
	}
	to, toDigest, err := s.endpoint(sub.Target, "the target of task "+sub.Task)
	if err != nil {
		d.Err = err.Error()
		d.Fingerprint = effect.FingerprintOf(planner.EffectConfig(sub, &src))
		return d
	}
	// The fingerprint sees each password's digest in the current form, so
	// an apply that only rewrites a legacy digest (same value) restarts
	// nothing, while a changed value still does.
	src.Password.Digest, sub.Target.Password.Digest = fromDigest, toDigest
	d.Fingerprint = effect.FingerprintOf(planner.EffectConfig(sub, &src))
	d.Config = units.Config{
		Task: sub.Task, Source: sub.Source, Mode: units.Mode(sub.Mode),
		From: from, Flavor: string(src.Flavor), To: to,
		Tables:             append([]string(nil), sub.Tables...),
		AcceptLostCascades: append([]string(nil), sub.AcceptLostCascades...),
		Filters:            append([]spec.FilterRule(nil), sub.Filters...),
		OnlineDDL:          sub.OnlineDDL,
		DumpThreads:        sub.Dump.Threads, SyncWorkers: sub.Sync.Workers, SyncBatch: sub.Sync.Batch,
		Validate:     string(sub.Validate.Mode),
		ShardMode:    string(sub.ShardMode),
		ShardSources: append([]string(nil), sub.ShardSources...),
	}
	for _, r := range sub.ShardDDL.Resolve {
		d.Config.ShardResolve = append(d.Config.ShardResolve, units.ShardResolution{Table: r.Table, DDL: r.DDL, Action: r.Action})
	}
	for _, r := range sub.Routes {
		d.Config.Routes = append(d.Config.Routes, units.Route{From: r.From, To: r.To})
	}
	if sub.Start != nil {
		d.Config.Start = units.Position{File: sub.Start.BinlogFile, Pos: sub.Start.BinlogPos, GTID: sub.Start.GTID}
		if sub.Start.Time != "" {
			t, err := time.Parse(time.RFC3339Nano, sub.Start.Time)
			if err != nil {
				d.Err = fmt.Sprintf("spec.start.%s.time %q is not an RFC 3339 time", sub.Source, sub.Start.Time)
				return d
			}
			d.Config.StartTime = t
		}
	}
	return d
}

// secrets resolves password references from the agent's environment and
// checks them against the applied digests, in the current form (with the
// installation's salt) or the legacy one. The installation's Hasher caches
// its costly part per value.
type secrets struct {
	agent  string
	getenv func(string) (string, bool)

	mu sync.Mutex
	h  *spec.Hasher // nil until the installation salt was read

	seen    map[string]envValue // recording(): what getenv gave
	digests *digests            // shared with the recordings
}

// digests caches the current-form digest of each reference and value, for
// one Hasher: a hundred subtasks that share a password cost one HMAC, not
// two each.
type digests struct {
	mu sync.Mutex
	h  *spec.Hasher
	m  map[[2]string]string
}

func (d *digests) of(h *spec.Hasher, ref, value string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.h != h || len(d.m) >= 4096 {
		d.h, d.m = h, map[[2]string]string{}
	}
	k := [2]string{ref, value}
	if dg, ok := d.m[k]; ok {
		return dg
	}
	dg := h.Digest(ref, value)
	d.m[k] = dg
	return dg
}

func newSecrets(agent string, getenv func(string) (string, bool)) *secrets {
	return &secrets{agent: agent, getenv: getenv, digests: &digests{}}
}

func (s *secrets) hasher() *spec.Hasher {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.h
}

func (s *secrets) setHasher(h *spec.Hasher) {
	s.mu.Lock()
	s.h = h
	s.mu.Unlock()
}

// endpoint resolves e's password and returns it with the digest of its
// value in the current form. what names the endpoint in errors, which
// never hold the value.
func (s *secrets) endpoint(e spec.Endpoint, what string) (units.Endpoint, string, error) {
	out := units.Endpoint{Host: e.Host, Port: e.Port, User: e.User}
	if e.TLS != nil {
		out.TLS = units.TLS{Mode: string(e.TLS.Mode), CA: e.TLS.CA, Cert: e.TLS.Cert, Key: e.TLS.Key}
	}
	if e.Password.IsZero() {
		return out, "", nil
	}
	ref := e.Password.Ref
	if ref == "" {
		return out, "", fmt.Errorf("the applied password of %s has no ${VAR} reference the agent could read", what)
	}
	value, ok := s.getenv(ref)
	if !ok {
		return out, "", fmt.Errorf("agent %s has no $%s in its environment (the password of %s): set it where the agent runs, or in its --env-file (re-read when it changes)", s.agent, ref, what)
	}
	h := s.hasher()
	if h == nil {
		return out, "", fmt.Errorf("agent %s has not read the installation salt yet (the password of %s)", s.agent, what)
	}
	cur := s.digests.of(h, ref, value)
	if match := cur == e.Password.Digest || spec.IsLegacy(e.Password.Digest) && h.Matches(ref, value, e.Password.Digest); !match {
		return out, "", fmt.Errorf("agent %s's $%s differs from the applied password (of %s): give the agent the value that was applied, or apply again", s.agent, ref, what)
	}
	out.Password = value
	return out, cur, nil
}

// builtView is what desired built from the views it read: a subtask's
// config and fingerprint come out the same while the view holds it with
// the same Since (its task and source not read again), the installation's
// hasher is set and the environment gives the same values for the
// references resolved, so they are not built again on every reconcile (a
// periodic resync, a unit that returned, another agent's apply) nor for
// every subtask when one source moves here.
type builtView struct {
	env  map[string]envValue // what the environment gave, for every config kept
	subs map[planner.SubtaskID]builtSubtask
}

type builtSubtask struct {
	since int64
	d     reconciler.Desired
}

type envValue struct {
	value string
	ok    bool
}

// build returns the configs of v's subtasks, building those it does not
// hold (shard adds what a shard subtask needs to a config built anew).
func (b *builtView) build(v *store.WorkerView, s *secrets, shard func(*reconciler.Desired)) []reconciler.Desired {
	if s.hasher() == nil || !b.sameEnv(s) {
		*b = builtView{}
	}
	if b.env == nil {
		b.env = map[string]envValue{}
	}
	rec := s.recording()
	subs := make(map[planner.SubtaskID]builtSubtask, len(v.Subtasks))
	out := make([]reconciler.Desired, 0, len(v.Subtasks))
	for id, sub := range v.Subtasks {
		src, ok := v.Sources[id.Source]
		if !ok {
			continue // not bound here (ReadWorkerView returns only ours)
		}
		since := v.Since[id]
		if old, ok := b.subs[id]; ok && since != 0 && old.since == since {
			subs[id] = old
			out = append(out, old.d)
			continue
		}
		d := rec.build(id, sub, src)
		shard(&d)
		subs[id] = builtSubtask{since: since, d: d}
		out = append(out, d)
	}
	if rec.hasher() == nil {
		*b = builtView{} // built without the salt: build again once it is read
		return out
	}
	maps.Copy(b.env, rec.seen)
	b.subs = subs
	return out
}

// sameEnv reports whether the environment gives what it gave for the
// configs held.
func (b *builtView) sameEnv(s *secrets) bool {
	for ref, was := range b.env {
		if value, ok := s.getenv(ref); value != was.value || ok != was.ok {
			return false
		}
	}
	return true
}

// recording returns secrets that resolve like s and remember what the
// environment gave for each reference.
func (s *secrets) recording() *secrets {
	r := &secrets{agent: s.agent, h: s.hasher(), seen: map[string]envValue{}, digests: s.digests}
	r.getenv = func(ref string) (string, bool) {
		value, ok := s.getenv(ref)
		r.seen[ref] = envValue{value, ok}
		return value, ok
	}
	return r
}
