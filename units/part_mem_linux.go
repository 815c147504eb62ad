package units

import "golang.org/x/sys/unix"

const hugePageBytes = 2 << 20

// mapSlab maps n bytes of anonymous memory and asks for huge pages (the
// kernel's transparent huge pages: with its default "madvise" setting
// only memory that asks gets them). nil when the mapping fails: the
// caller then uses the Go heap.
func mapSlab(n int) []byte {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil
	}
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE) // a hint: without it, small pages
	return b
}

func unmapSlab(b []byte) { _ = unix.Munmap(b) }
