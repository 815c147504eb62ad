package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/dmplan/dmplan/reconciler"
	"github.com/dmplan/dmplan/spec"
	"github.com/dmplan/dmplan/units"
)

// relays runs the relay of every source bound to the agent whose
// spec.relay is enabled (docs/relay.md), for one epoch: one units.Relay per
// source, in --relay-dir/<source>, started and stopped as the desired state
// changes, restarted when its source's connection or retain changes.
type relays struct {
	ctx context.Context
	dir string
	log *slog.Logger

	mu      sync.Mutex
	running map[string]*relayRun
	rels    map[string]*units.Relay // kept across restarts: subtasks hold them
	held    map[string]bool         // sources whose relay directory is here (registered as Worker.Relays)
	wg      sync.WaitGroup
}

type relayRun struct {
	rel    *units.Relay
	key    string // what it runs with: a change restarts it
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	subs []units.Config // the source's subtasks, latest desired
}

func newRelays(ctx context.Context, dir string, log *slog.Logger) *relays {
	r := &relays{ctx: ctx, dir: dir, log: log, running: map[string]*relayRun{}, rels: map[string]*units.Relay{}, held: map[string]bool{}}
	for _, name := range heldRelays(dir) {
		r.held[name] = true
	}
	return r
}

// heldRelays lists the sources whose relay directory dir holds (a
// relay.meta in dir/<source>; a directory moved aside is not one).
func heldRelays(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() || strings.Contains(e.Name(), ".replaced-") {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "relay.meta")); err == nil {
			out = append(out, e.Name())
		}
	}
	return out
}

// heldSources returns the sources whose relay directory the agent holds,
// sorted: those found at the start of the epoch and those it ran since.
func (r *relays) heldSources() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.held))
	for name := range r.held {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// update starts, restarts and stops relays for the sources bound here,
// and gives the subtasks of a source with a relay that relay. sec
// resolves the sources' passwords.
func (r *relays) update(sources map[string]spec.Source, out []reconciler.Desired, sec *secrets) {
	r.mu.Lock()
	defer r.mu.Unlock()
	want := map[string]bool{}
	for name, src := range sources {
		if !src.RelayOn() {
			continue
		}
		from, _, err := sec.endpoint(src.Endpoint, "source "+name)
		if err != nil {
			for i := range out {
				if out[i].ID.Source == name && out[i].Err == "" {
					out[i].Err = "relay: " + err.Error()
				}
			}
			continue
		}
		want[name] = true
		key := fmt.Sprintf("%s|%d|%s|%s|%v|%s|%s", from.Host, from.Port, from.User, from.Password, from.TLS, src.Flavor, src.Relay.Retain)
		run := r.running[name]
		if run != nil && run.key != key {
			r.stopLocked(name)
			run = nil
		}
		if run == nil {
			run = r.start(name, key, units.RelayConfig{Source: name, From: from, Flavor: string(src.Flavor), Retain: src.Relay.RetainFor()})
		}
		var subs []units.Config
		for i := range out {
			if out[i].ID.Source != name {
				continue
			}
			if out[i].Err == "" {
				out[i].Config.Relay = run.rel
			}
			subs = append(subs, out[i].Config)
		}
		sort.Slice(subs, func(i, j int) bool { return subs[i].Task < subs[j].Task })
		run.mu.Lock()
		run.subs = subs
		run.mu.Unlock()
	}
	for name := range r.running {
		if !want[name] {
			r.stopLocked(name)
		}
	}
}

func (r *relays) start(name, key string, cfg units.RelayConfig) *relayRun {
	ctx, cancel := context.WithCancel(r.ctx)
	rel := r.rels[name]
	if rel == nil {
		rel = units.NewRelay(filepath.Join(r.dir, name))
		r.rels[name] = rel
	}
	run := &relayRun{rel: rel, key: key, cancel: cancel, done: make(chan struct{})}
	cfg.Subtasks = func() []units.Config {
		run.mu.Lock()
		defer run.mu.Unlock()
		return append([]units.Config(nil), run.subs...)
	}
	r.running[name] = run
	r.held[name] = true
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer close(run.done)
		_ = run.rel.Run(ctx, cfg, r.log)
	}()
	r.log.Info("relay started", "source", name, "dir", run.rel.Dir())
	return run
}

func (r *relays) stopLocked(name string) {
	run := r.running[name]
	delete(r.running, name)
	run.cancel()
	<-run.done
	r.log.Info("relay stopped", "source", name)
}

// statuses returns the relays' statuses by source.
func (r *relays) statuses() map[string]units.RelayStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]units.RelayStatus, len(r.running))
	for name, run := range r.running {
		out[name] = run.rel.Status()
	}
	return out
}

// stop stops every relay and waits for them.
func (r *relays) stop() {
	r.mu.Lock()
	for name := range r.running {
		r.running[name].cancel()
	}
	r.mu.Unlock()
	r.wg.Wait()
}
