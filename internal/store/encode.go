package store

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
)

// kv is one key and its JSON value. Keys of a generation are relative to
// its prefix until they are written.
type kv struct {
	key string
	val []byte
}

// encodeGen turns a desired state into the keys of a generation (relative
// to its prefix), sorted, plus the counts for its manifest. It fails with
// ErrInvalid on a name that cannot be a key segment, before anything is
// written. Subtasks and stages are derived
// from the tasks (planner.State.Subtasks), so agents read exactly what
// they run without re-deriving it.
func encodeGen(st planner.State) ([]kv, Counts, error) {
	var (
		out []kv
		c   Counts
	)
	add := func(key string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode %s: %w", key, err)
		}
		out = append(out, kv{key, b})
		return nil
	}
	for name, src := range st.Sources {
		if !validName(name) || src.Name != name {
			return nil, c, fmt.Errorf("source %q (named %q): %w", name, src.Name, ErrInvalid)
		}
		if err := add(relSource(name), src); err != nil {
			return nil, c, err
		}
		c.Sources++
	}
	for name, t := range st.Tasks {
		if !validName(name) || t.Name != name {
			return nil, c, fmt.Errorf("task %q (named %q): %w", name, t.Name, ErrInvalid)
		}
		if err := add(relTask(name), t); err != nil {
			return nil, c, err
		}
		c.Tasks++
	}
	for id, sub := range st.Subtasks() {
		if !validName(id.Source) {
			return nil, c, fmt.Errorf("task %q: source %q: %w", id.Task, id.Source, ErrInvalid)
		}
		if err := add(relSubtask(id.Task, id.Source), sub); err != nil {
			return nil, c, err
		}
		if err := add(relStage(id.Task, id.Source), StageValue{Stage: sub.Stage}); err != nil {
			return nil, c, err
		}
		c.Subtasks++
		c.Stages++
	}
	for src, w := range st.Bounds {
		if !validName(src) || !validName(w) {
			return nil, c, fmt.Errorf("bound %q -> %q: %w", src, w, ErrInvalid)
		}
		if err := add(relBound(src), BoundValue{Worker: w}); err != nil {
			return nil, c, err
		}
		c.Bounds++
	}
	slices.SortFunc(out, func(a, b kv) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	return out, c, nil
}

// chunk splits kvs into groups that each fit one transaction under etcd's
// default limits. A single value larger than the byte budget gets a group
// of its own (and etcd refuses it if it is over the server's limit).
func chunk(kvs []kv) [][]kv {
	var (
		out   [][]kv
		cur   []kv
		bytes int
	)
	for _, e := range kvs {
		n := len(genPrefix(genID(0))) + len(e.key) + len(e.val) + 16 // + protobuf framing
		if len(cur) > 0 && (len(cur) >= maxOpsPerTxn || bytes+n > maxBytesPerTxn) {
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
