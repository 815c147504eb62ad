//go:build !linux

package units

const hugePageBytes = 2 << 20

// mapSlab: part buffers live on the Go heap outside Linux.
func mapSlab(int) []byte { return nil }

func unmapSlab([]byte) {}
