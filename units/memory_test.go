//go:build !race

// The memory tests measure the heap of the whole test binary. Under the
// race detector every copy of a megabyte blob goes through the detector's
// bookkeeping and the tests measure that instead (TestSyncMemoryBounded
// moved 240 MB at 1-2 MB/s and timed out): scripts/test.sh runs them in a
// build without -race after the suite.

package units

import (
	"context"
	"fmt"
	"runtime"
	"slices"
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
	heap := watchHeap(t)
	cfg := p.config("memory", []string{"mem.*"})
	var mapped atomic.Int64 // the part buffers outside the heap (part_mem.go)
	opts := DumpLoadOptions{Loaders: 2, Readers: 2, partMapped: func(n int64) { mapped.Store(n) }}
	_, err := DumpLoadWith(context.Background(), cfg, opts, nil, dlLog(t))
	peakHeap := heap.end()
	peak := peakHeap + uint64(mapped.Load())
	if err != nil {
		t.Fatal(err)
	}
	// Each blob compared by its SHA-256, computed by the servers: reading
	// 2 x 192 MB into the test and hex-encoding it (dlSame) cost more than
	// the copy under the race detector.
	for _, tb := range []string{"mem.k", "mem.nk"} {
		src, dst := dlRows(t, p.srcDB, tb, "id, SHA2(b, 256)"), dlRows(t, p.dstDB, tb, "id, SHA2(b, 256)")
		if len(src) != 96 || !slices.Equal(src, dst) {
			t.Errorf("%s: %d rows on the source, %d on the target, equal: %v", tb, len(src), len(dst), slices.Equal(src, dst))
		}
	}
	t.Logf("peak heap in use: %d MB, part buffers mapped outside it: %d MB", peakHeap>>20, mapped.Load()>>20)
	// Chunks in flight: (Readers + 2 x Loaders) x (ChunkBytes + a row),
	// about 36 MB here, and as much again of garbage between two GCs.
	if peak > 128<<20 {
		t.Errorf("peak heap and part buffers %d MB for 192 MB of rows: memory is not bounded", peak>>20)
	}
}

// TestSyncMemoryBounded: 240 MB of 4 MB blobs go through sync with the
// heap below that (the byte budgets of sync_budget.go; about 140 MB of
// heap in use at the peak, garbage included).
func TestSyncMemoryBounded(t *testing.T) {
	p := newSyPair(t)
	syExec(t, p.srcDB, "CREATE DATABASE d", "CREATE TABLE d.b (id INT PRIMARY KEY, v LONGBLOB)")
	syCopySchema(t, p, "d", "b")
	cfg := p.config("mem", ModeIncremental, []string{"d.*"})
	cfg.Start = syMasterPos(t, p)
	for i := 0; i < 60; i++ {
		syExec(t, p.srcDB, fmt.Sprintf("INSERT INTO d.b VALUES (%d, REPEAT(CHAR(%d), 4 << 20))", i, 65+i%26))
	}
	runtime.GC()
	heap := watchHeap(t)
	r := syStart(t, cfg, syLog(t))
	syWaitCaughtUp(t, p, r, 120*time.Second)
	peak := heap.end()
	r.stop(t)
	var n int
	var sum int64
	if err := p.dstDB.QueryRow("SELECT COUNT(*), SUM(LENGTH(v)) FROM d.b").Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	if n != 60 || sum != 60*4<<20 {
		t.Fatalf("target has %d rows, %d bytes", n, sum)
	}
	t.Logf("peak heap in use: %d MB for 240 MB of rows", peak>>20)
	if peak > 200<<20 {
		t.Errorf("peak heap %d MB, want under 200 MB", peak>>20)
	}
}
