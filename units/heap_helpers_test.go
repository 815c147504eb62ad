//go:build !race

package units

import (
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

// heapPeak samples the heap in use (what runtime.MemStats calls HeapInuse:
// bytes in spans holding objects) every few milliseconds until stop, and
// returns the largest value seen.
//
// It reads runtime/metrics, which does not stop the world:
// runtime.ReadMemStats does, and under the race detector a goroutine
// copying a megabyte blob is not preemptible for long, so sampling with it
// every 5 ms held every other goroutine up (TestSyncMemoryBounded synced
// 240 MB at 2 MB/s and timed out).
type heapPeak struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once
	peak uint64
}

func watchHeap(t testing.TB) *heapPeak {
	h := &heapPeak{stop: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() { h.end() })
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
	}
	go func() {
		defer close(h.done)
		for {
			metrics.Read(samples)
			h.peak = max(h.peak, samples[0].Value.Uint64()+samples[1].Value.Uint64())
			select {
			case <-h.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return h
}

// end stops the sampling and returns the peak heap in use, in bytes.
func (h *heapPeak) end() uint64 {
	h.once.Do(func() { close(h.stop) })
	<-h.done
	return h.peak
}
