package units

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// TestDumpLoadMemoryBounded copies 2 x 96 MB of 1 MB blobs (192 MB, twice
// that hex-encoded) while watching the heap: it must stay far below the
// data size, with a key (chunks) and without one (one streamed chunk).
func TestDumpLoadMemoryBounded(t *testing.T) {
	p := newDLPair(t)
	dlExec(t, p.srcDB, "CREATE DATABASE mem",
		"CREATE TABLE mem.k (id INT PRIMARY KEY, b LONGBLOB)",
		"CREATE TABLE mem.nk (id INT, b LONGBLOB)")
	for i := range 96 {
		dlExec(t, p.srcDB, "INSERT INTO mem.k VALUES ("+strconv.Itoa(i)+", REPEAT(UNHEX(SHA2("+strconv.Itoa(i)+", 512)), 16384))")
	}
	dlExec(t, p.srcDB, "INSERT INTO mem.nk SELECT * FROM mem.k")
	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	cfg := p.config("memory", []string{"mem.*"})
	_, err := DumpLoadWith(context.Background(), cfg, DumpLoadOptions{Loaders: 2, Readers: 2}, nil, dlLog(t))
	close(stop)
	if err != nil {
		t.Fatal(err)
	}
	dlSame(t, p, "mem.k", "mem.nk")
	t.Logf("peak heap in use: %d MB", peak.Load()>>20)
	// Chunks in flight: (Readers + 2 x Loaders) x (ChunkBytes + a row),
	// about 36 MB here, and as much again of garbage between two GCs.
	if peak.Load() > 128<<20 {
		t.Errorf("peak heap %d MB for 192 MB of rows: memory is not bounded", peak.Load()>>20)
	}
}
