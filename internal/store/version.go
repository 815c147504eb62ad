package store

import "fmt"

// visibility says which generations' versions are part of the state a
// reader reads: those at or before the head's generation that are not
// open (staged by an apply that has not made them current, or never will).
type visibility struct {
	head string          // the head's generation; "" when nothing was applied
	open map[string]bool // open generations
}

func (v visibility) visible(gen string) bool {
	return v.head != "" && gen <= v.head && !v.open[gen]
}

// newest reads versions in key order (all versions of one object are
// adjacent, oldest first) and calls f once per object whose newest
// visible version is not a tombstone. Call flush after the last version.
type newest struct {
	vis visibility
	f   func(obj string, val []byte) error

	obj string
	val []byte // nil: no visible version yet, or a tombstone
}

func (n *newest) add(key, val []byte) error {
	obj, gen, ok := splitVersion(string(key))
	if !ok {
		return fmt.Errorf("read %s: not a versioned key: %w", key, ErrCorrupt)
	}
	if obj != n.obj {
		if err := n.flush(); err != nil {
			return err
		}
		n.obj = obj
	}
	if n.vis.visible(gen) {
		n.val = val
		if len(val) == 0 {
			n.val = nil
		}
	}
	return nil
}

func (n *newest) flush() error {
	obj, val := n.obj, n.val
	n.obj, n.val = "", nil
	if obj == "" || val == nil {
		return nil
	}
	return n.f(obj, val)
}
