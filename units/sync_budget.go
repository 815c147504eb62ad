package units

import (
	"context"
	"sync/atomic"
)

// Memory is bounded by bytes, not only by counts, so that wide rows
// (large BLOBs) cannot pile up: events read but not yet handled are
// limited to eventBudget bytes, and row changes handed out but not yet
// committed to changeBudget bytes. A single item larger than its budget
// still passes when nothing else is in flight.
const (
	eventBudget  = 8 << 20
	changeBudget = 16 << 20
)

// byteBudget limits the bytes in flight between one acquirer and any
// number of releasers.
type byteBudget struct {
	limit int64
	used  atomic.Int64
	freed chan struct{}
}

func newByteBudget(limit int64) *byteBudget {
	return &byteBudget{limit: limit, freed: make(chan struct{}, 1)}
}

// acquire waits until n more bytes fit (or nothing is in flight). wait is
// called once before waiting: it must make progress possible (hand out
// what is gathered).
func (b *byteBudget) acquire(ctx context.Context, n int64, wait func() error) error {
	waited := false
	for {
		used := b.used.Load()
		if used == 0 || used+n <= b.limit {
			b.used.Add(n)
			return nil
		}
		if !waited && wait != nil {
			waited = true
			if err := wait(); err != nil {
				return err
			}
			continue
		}
		select {
		case <-b.freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *byteBudget) release(n int64) {
	b.used.Add(-n)
	select {
	case b.freed <- struct{}{}:
	default:
	}
}

// changeSize estimates the memory a change holds.
func changeSize(c *syncChange) int64 {
	n := int64(96)
	for _, row := range [][]any{c.before, c.after} {
		for _, v := range row {
			switch x := v.(type) {
			case string:
				n += int64(len(x)) + 16
			case []byte:
				n += int64(len(x)) + 24
			default:
				n += 16
			}
		}
	}
	return n
}
