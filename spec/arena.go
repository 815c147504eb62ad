package spec

import yaml "go.yaml.in/yaml/v3"

// nodeArena holds the slabs the fast parser takes its nodes and content
// slices from. A Load parses a few million nodes that are garbage once
// their piece is decoded; each decoding worker reuses one arena for all its
// pieces, so the nodes are written to memory that is already mapped and in
// cache, and the collector has no garbage of them to find. Nothing decoded
// from a tree may keep a pointer into it (decl holds values, not nodes).
type nodeArena struct {
	slabs  [][]yaml.Node
	used   int // slabs handed out since the last reset
	pslabs [][]*yaml.Node
	pused  int
}

const (
	nodeSlabLen = 512
	ptrSlabLen  = 1024
)

// nodeSlab returns a slab of zero nodes.
func (a *nodeArena) nodeSlab() []yaml.Node {
	if a.used == len(a.slabs) {
		a.slabs = append(a.slabs, make([]yaml.Node, nodeSlabLen))
	}
	a.used++
	return a.slabs[a.used-1]
}

// ptrSlab returns a slab of at least n nil pointers.
func (a *nodeArena) ptrSlab(n int) []*yaml.Node {
	if n > ptrSlabLen {
		return make([]*yaml.Node, n) // a huge collection: not reused
	}
	if a.pused == len(a.pslabs) {
		a.pslabs = append(a.pslabs, make([]*yaml.Node, ptrSlabLen))
	}
	a.pused++
	return a.pslabs[a.pused-1]
}

// reset zeroes the slabs handed out, for the next trees: those given
// before must no longer be used.
func (a *nodeArena) reset() {
	for _, s := range a.slabs[:a.used] {
		clear(s)
	}
	for _, s := range a.pslabs[:a.pused] {
		clear(s)
	}
	a.used, a.pused = 0, 0
}
