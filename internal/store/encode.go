package store

import (
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
)

// kv is one object and its new JSON value, as an apply writes it: key is
// the object key (without the generation), and a nil val is a tombstone.
type kv struct {
	key string
	val []byte
	old bool // the object has a version already, which this one supersedes
	// group, for the tombstone of a bound whose worker keeps no bound (a
	// dead agent's sources all move), is that worker's bound prefix: a
	// direct apply deletes the prefix in one operation instead of each
	// bound's versions in one of their own.
	group string
}

// present is the value of member and bound keys: the key says it all.
var present = []byte("{}")

// delta is what turns state cur into state want: the objects whose value
// differs, sorted by key. Sources and tasks are compared by value, as the
// planner compares them (a plan that shows no change writes nothing); members
// (which task runs on which source) follow the tasks' source lists; a
// bound that moves is a tombstone under the old worker and a new key under
// the new one. It fails with ErrInvalid on a name it would write that
// cannot be a key segment, before anything is written (what it does not
// write was checked when it was). Unchanged objects produce nothing,
// so delta(s, s) is empty.
func delta(cur, want planner.State) ([]kv, error) {
	var out []kv
	// Values are encoded after the walk, on every core (a first apply of
	// 110,000 objects is a second and more of JSON on one).
	var pending []pendingPut
	put := func(key string, v any, old bool) error {
		pending = append(pending, pendingPut{len(out), v})
		out = append(out, kv{key: key, old: old})
		return nil
	}
	del := func(key string) { out = append(out, kv{key: key, old: true}) }
	// found counts the names of want that cur has: when it is all of
	// cur's, cur has no name want lacks, and nothing is deleted (a pass
	// over cur saved).
	found := 0
	for name, w := range want.Sources {
		c, ok := cur.Sources[name]
		if ok {
			found++
		}
		if !ok || !planner.SourceEqual(c, w) {
			if !validName(name) || w.Name != name {
				return nil, fmt.Errorf("source %q (named %q): %w", name, w.Name, ErrInvalid)
			}
			if err := put(sourceObj(name), w, ok); err != nil {
				return nil, err
			}
		}
	}
	for name := range cur.Sources {
		if found == len(cur.Sources) {
			break
		}
		if _, ok := want.Sources[name]; !ok {
			del(sourceObj(name))
		}
	}
	found = 0
	for name, w := range want.Tasks {
		c, ok := cur.Tasks[name]
		if ok {
			found++
		}
		if ok && planner.TaskEqual(c, w) {
			continue
		}
		if !validName(name) || w.Name != name {
			return nil, fmt.Errorf("task %q (named %q): %w", name, w.Name, ErrInvalid)
		}
		if err := put(taskObj(name), w, ok); err != nil {
			return nil, err
		}
		for _, src := range w.Sources {
			if !validName(src) {
				return nil, fmt.Errorf("task %q: source %q: %w", name, src, ErrInvalid)
			}
			if !slices.Contains(c.Sources, src) {
				out = append(out, kv{key: memberObj(src, name), val: present})
			}
		}
		for _, src := range c.Sources {
			if !slices.Contains(w.Sources, src) {
				del(memberObj(src, name))
			}
		}
	}
	for name, c := range cur.Tasks {
		if found == len(cur.Tasks) {
			break
		}
		if _, ok := want.Tasks[name]; !ok {
			del(taskObj(name))
			for _, src := range c.Sources {
				del(memberObj(src, name))
			}
		}
	}
	keeps := map[string]bool{} // workers with a bound in want
	for _, w := range want.Bounds {
		keeps[w] = true
	}
	unbind := func(worker, src string) {
		out = append(out, kv{key: boundObj(worker, src), old: true})
		if !keeps[worker] {
			out[len(out)-1].group = pfxBound + worker + "/"
		}
	}
	for src, w := range want.Bounds {
		if c := cur.Bounds[src]; c != w {
			if !validName(src) || !validName(w) {
				return nil, fmt.Errorf("bound %q -> %q: %w", src, w, ErrInvalid)
			}
			if c != "" {
				unbind(c, src)
			}
			out = append(out, kv{key: boundObj(w, src), val: present})
		}
	}
	for src, c := range cur.Bounds {
		if _, ok := want.Bounds[src]; !ok {
			unbind(c, src)
		}
	}
	if err := encodeAll(out, pending); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b kv) int { return strings.Compare(a.key, b.key) })
	return out, nil
}

// pendingPut is a value delta encodes into out[i].val.
type pendingPut struct {
	i int
	v any
}

// encodeAll encodes the pending values into out, in parallel when there
// are many.
func encodeAll(out []kv, pending []pendingPut) error {
	encode := func(p pendingPut) error {
		b, err := json.Marshal(p.v)
		if err != nil {
			return fmt.Errorf("encode %s: %w", out[p.i].key, err)
		}
		out[p.i].val = b
		return nil
	}
	workers := min(runtime.GOMAXPROCS(0), (len(pending)+255)/256)
	if workers <= 1 {
		for _, p := range pending {
			if err := encode(p); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	per := (len(pending) + workers - 1) / workers
	for w := range workers {
		wg.Go(func() {
			for _, p := range pending[w*per : min(len(pending), (w+1)*per)] {
				if err := encode(p); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// validate checks that every name of st can be a key segment, so that an
// apply with a bad name fails before it writes anything.
func validate(st planner.State) error {
	for name, src := range st.Sources {
		if !validName(name) || src.Name != name {
			return fmt.Errorf("source %q (named %q): %w", name, src.Name, ErrInvalid)
		}
	}
	for name, t := range st.Tasks {
		if !validName(name) || t.Name != name {
			return fmt.Errorf("task %q (named %q): %w", name, t.Name, ErrInvalid)
		}
		for _, src := range t.Sources {
			if !validName(src) {
				return fmt.Errorf("task %q: source %q: %w", name, src, ErrInvalid)
			}
		}
	}
	for src, w := range st.Bounds {
		if !validName(src) || !validName(w) {
			return fmt.Errorf("bound %q -> %q: %w", src, w, ErrInvalid)
		}
	}
	return nil
}

// countsOf counts the objects of st.
func countsOf(st planner.State) Counts {
	c := Counts{Sources: len(st.Sources), Tasks: len(st.Tasks), Bounds: len(st.Bounds)}
	for _, t := range st.Tasks {
		c.Members += len(t.Sources)
	}
	return c
}

// chunk splits kvs into groups that each fit one transaction under etcd's
// default limits, leaving room for extra operations. A single value
// larger than the byte budget gets a group of its own (and etcd refuses it
// if it is over the server's limit).
func chunk(kvs []kv, extra int) [][]kv {
	var (
		out   [][]kv
		cur   []kv
		bytes int
	)
	for _, e := range kvs {
		n := 2*len(e.key) + numWidth + len(e.val) + 16 // + its log entry and protobuf framing
		if len(cur) > 0 && (len(cur)+extra >= maxOpsPerTxn || bytes+n > maxBytesPerTxn) {
			out = append(out, cur)
			cur, bytes = nil, 0
		}
		cur = append(cur, e)
		bytes += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// decodeInto unmarshals a stored value, naming the key on error.
func decodeInto(key []byte, val []byte, v any) error {
	if err := json.Unmarshal(val, v); err != nil {
		return fmt.Errorf("decode %s: %w: %v", key, ErrCorrupt, err)
	}
	return nil
}

// emptyState returns a State with non-nil maps.
func emptyState() planner.State {
	return planner.State{
		Sources: map[string]spec.Source{},
		Tasks:   map[string]spec.Task{},
		Bounds:  map[string]string{},
	}
}
