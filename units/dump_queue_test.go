package units

import (
	"context"
	"testing"
)

// TestChunkQueueOrder: a loader takes an empty chunk first, then the
// oldest chunk of a table no other loader writes, else the oldest.
func TestChunkQueueOrder(t *testing.T) {
	a, b, c := &tableJob{}, &tableJob{}, &tableJob{}
	ch := func(j *tableJob, seq uint32, rows int64) *chunk {
		return &chunk{job: j, rec: chunkRec{seq: seq}, rows: rows}
	}
	streamed := &chunk{job: c, rec: chunkRec{seq: 9}, stream: make(chan part)} // rows unknown while it streams
	for _, tc := range []struct {
		name  string
		busy  []*tableJob // tables a loader is writing
		items []*chunk
		want  int // index in items
	}{
		{"oldest", nil, []*chunk{ch(a, 1, 10), ch(b, 1, 10)}, 0},
		{"oldest of a free table", []*tableJob{a}, []*chunk{ch(a, 2, 10), ch(b, 1, 10)}, 1},
		{"oldest when every table is busy", []*tableJob{a, b}, []*chunk{ch(a, 2, 10), ch(b, 2, 10)}, 0},
		{"empty first", []*tableJob{a}, []*chunk{ch(b, 1, 10), ch(a, 3, 0)}, 1},
		{"a stream is not empty", nil, []*chunk{ch(a, 1, 10), streamed}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newChunkQueue(context.Background(), 10)
			for _, j := range tc.busy {
				q.busy[j]++
			}
			for _, c := range tc.items {
				if err := q.put(context.Background(), c); err != nil {
					t.Fatal(err)
				}
			}
			if got, want := q.take(), tc.items[tc.want]; got != want {
				t.Fatalf("took seq %d of table %p, want seq %d of table %p", got.rec.seq, got.job, want.rec.seq, want.job)
			}
		})
	}
}
