package units

import "sync"

// partMem is the memory of one copy's part buffers: slabs mapped outside
// the Go heap, in huge pages where the system has them, unmapped by
// release when the copy is over.
//
// Why not the Go heap: on the machine measured (a virtual machine where
// every page the kernel hands out costs 10-20 µs) the first write to each
// fresh 4 KiB page of the tens of megabytes a copy keeps in flight was a
// sixth of the agent's CPU. Touching 64 MiB took 250-300 ms of CPU in
// small pages, 4-6 ms in huge pages (170 ms the first time the host backs
// the memory). And buffers on the heap made the collector's goal twice
// their size, so the driver's small garbage (one boxed value per column
// and row) filled as many fresh pages again before each collection; off
// the heap, the heap stays small and its garbage is reused soon. Per copy
// of 8 sysbench tables: about 22,000 page faults before, 3,000 after
// (docs/units.md, Figures).
//
// release must come after the last use of every buffer alloc returned:
// the memory is gone afterwards.
type partMem struct {
	mu     sync.Mutex
	slabs  [][]byte
	rest   []byte
	mapped int64
	done   bool
	onMap  func(mapped int64) // test hook (DumpLoadOptions.partMapped)
}

// slabBytes is the size of one mapping: 8 huge pages.
const slabBytes = 16 << 20

// alloc returns an empty buffer of capacity size (append past it moves
// the bytes to the Go heap, as with any slice).
func (m *partMem) alloc(size int) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done {
		panic("units: part buffer wanted after its copy ended")
	}
	if len(m.rest) < size {
		n := max(slabBytes, (size+hugePageBytes-1)/hugePageBytes*hugePageBytes)
		slab := mapSlab(n)
		if slab == nil {
			return make([]byte, 0, size)
		}
		m.slabs = append(m.slabs, slab)
		m.mapped += int64(n)
		m.rest = slab
		if m.onMap != nil {
			m.onMap(m.mapped)
		}
	}
	b := m.rest[:0:size]
	m.rest = m.rest[size:]
	return b
}

// release unmaps every slab.
func (m *partMem) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.slabs {
		unmapSlab(s)
	}
	m.slabs, m.rest, m.done = nil, nil, true
}
