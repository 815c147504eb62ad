package units

import (
	"context"
	"sync"
)

// chunkQueue hands chunks from readers to loaders. It holds at most cap
// chunks, and a loader takes an empty chunk first (a table's last, which
// costs a checkpoint and ends the table), else the oldest chunk of a table
// no other loader is writing, when there is one: LOAD DATA into a table with an
// AUTO_INCREMENT column holds InnoDB's table-level AUTO-INC lock for the
// whole statement (innodb_autoinc_lock_mode=1), so two loaders on one
// table take turns.
type chunkQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	items  []*chunk
	cap    int
	closed bool
	busy   map[*tableJob]int
}

func newChunkQueue(ctx context.Context, capacity int) *chunkQueue {
	q := &chunkQueue{cap: capacity, busy: map[*tableJob]int{}}
	q.cond = sync.NewCond(&q.mu)
	context.AfterFunc(ctx, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		q.cond.Broadcast()
	})
	return q
}

// put adds c, waiting while the queue is full.
func (q *chunkQueue) put(ctx context.Context, c *chunk) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) >= q.cap && ctx.Err() == nil {
		q.cond.Wait()
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	q.items = append(q.items, c)
	q.cond.Broadcast()
	return nil
}

// take returns the next chunk for a loader, or nil once the queue is
// closed and empty. The caller calls done when it has loaded the chunk.
func (q *chunkQueue) take() *chunk {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 && !q.closed {
		q.cond.Wait()
	}
	if len(q.items) == 0 {
		return nil
	}
	i := 0
	for k, c := range q.items {
		if c.stream == nil && c.rows == 0 {
			i = k // an empty chunk, a table's last: it ends the table at
			break // once, and its keys can be added (it waited 155 ms once)
		}
	}
	if c := q.items[i]; c.stream != nil || c.rows != 0 {
		for k, c := range q.items {
			if q.busy[c.job] == 0 {
				i = k
				break
			}
		}
	}
	c := q.items[i]
	q.items = append(q.items[:i], q.items[i+1:]...)
	q.busy[c.job]++
	q.cond.Broadcast()
	return c
}

// done marks c's table as no longer written by that loader.
func (q *chunkQueue) done(c *chunk) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.busy[c.job]--
}

// close says no more chunks will come.
func (q *chunkQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}
