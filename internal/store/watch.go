package store

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/dmplan/dmplan/planner"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// WatchHead sends the head's revision once at the start and again each
// time the head moves (an apply, or a bound change made through Apply),
// until ctx ends; then the channel is closed. The channel holds only the
// latest revision: a slow reader skips intermediate ones, which is what a
// level-based agent wants (it re-reads the whole state anyway). Errors
// (etcd unreachable, compaction) are retried; 0 means nothing was applied
// yet.
func (s *Store) WatchHead(ctx context.Context) <-chan int64 {
	last := int64(-1)
	return watchLatest(ctx, s, "head", keyHead, nil, func(ctx context.Context) (int64, int64, bool, error) {
		h, err := s.readHead(ctx)
		changed := err == nil && h.modRev != last
		if changed {
			last = h.modRev
		}
		return h.modRev, h.readRev, changed, err
	}, func(evs []*clientv3.Event) (int64, bool, bool) {
		// The head is only ever put: its revision is in the event, and
		// a hundred agents woken by one apply need not read it first.
		ev := evs[len(evs)-1]
		if ev.Type != clientv3.EventTypePut {
			return 0, false, false
		}
		changed := ev.Kv.ModRevision != last
		last = max(last, ev.Kv.ModRevision)
		return ev.Kv.ModRevision, changed, true
	})
}

// WatchWorkers sends the live workers (sorted by name) once at the start
// and again whenever an agent registers or its lease ends, until ctx ends;
// then the channel is closed. Like WatchHead, it holds only the latest
// list.
func (s *Store) WatchWorkers(ctx context.Context) <-chan []planner.Worker {
	var last []planner.Worker
	first := true
	return watchLatest(ctx, s, "workers", pfxWorker, []clientv3.OpOption{clientv3.WithPrefix()},
		func(ctx context.Context) ([]planner.Worker, int64, bool, error) {
			ws, rev, err := s.workersAt(ctx, 0)
			changed := err == nil && (first || !slices.EqualFunc(ws, last, planner.Worker.Equal))
			if changed {
				last, first = ws, false
			}
			return ws, rev, changed, err
		}, nil)
}

// watchLatest calls read at the start and after every change to key,
// sending what it read when it reports a change. read returns the value,
// the revision it read at (the watch resumes after it) and whether the
// value differs from the last one sent. fromEvents, when not nil, takes
// the value from the events instead of a read when it can (ok).
func watchLatest[T any](ctx context.Context, s *Store, what, key string, opts []clientv3.OpOption,
	read func(context.Context) (T, int64, bool, error),
	fromEvents func([]*clientv3.Event) (v T, changed, ok bool)) <-chan T {
	out := make(chan T, 1)
	send := func(v T) {
		for {
			select {
			case out <- v:
				return
			default:
			}
			select { // replace the value the reader has not taken yet
			case <-out:
			default:
			}
		}
	}
	go func() {
		defer close(out)
		for ctx.Err() == nil {
			v, rev, changed, err := read(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("watch "+what+": read", "err", err)
				}
				sleep(ctx, time.Second)
				continue
			}
			if changed {
				send(v)
			}
			wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
			wopts := append([]clientv3.OpOption{clientv3.WithRev(rev + 1)}, opts...)
			for resp := range s.cli.Watch(wctx, key, wopts...) {
				if err := resp.Err(); err != nil {
					s.log.Warn("watch "+what, "err", err)
					break
				}
				if len(resp.Events) == 0 {
					continue
				}
				if fromEvents != nil {
					if v, changed, ok := fromEvents(resp.Events); ok {
						if changed {
							send(v)
						}
						continue
					}
				}
				// Level-based: re-read instead of applying events.
				if v, _, changed, err := read(ctx); err == nil && changed {
					send(v)
				} else if err != nil {
					break // start over: read, then watch again
				}
			}
			cancel()
		}
	}()
	return out
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// StatusWatch follows what `dmplan status` shows (WatchStatus). Head and
// Workers hold at most one signal each: a reader busy reading misses no
// change and reads once for many. Statuses signals that TakeStatuses has
// events: the statuses themselves, so that a reader keeps its copy without
// reading them again (a copy's progress reports cost nothing but their
// events).
type StatusWatch struct {
	Head     <-chan struct{} // the head moved: an apply, or a failover rebind
	Workers  <-chan struct{} // an agent registered, or its lease ended
	Statuses <-chan struct{} // statuses of the watched task were written or deleted

	mu      sync.Mutex
	pending StatusEvents
}

// StatusEvents are the status changes a watch saw since they were last
// taken, in order.
type StatusEvents struct {
	Changes []StatusChange
	// Reset: events may have been lost (a watch failed and started
	// again): read every status again. Changes is empty then (what it
	// held is older than that read).
	Reset bool
}

// StatusChange is one status written, or deleted (its agent forgot the
// subtask, or the agent's lease ended: only Task and Source are set).
type StatusChange struct {
	Status  SubtaskStatus
	Deleted bool
}

// TakeStatuses returns the status events since the last call.
func (w *StatusWatch) TakeStatuses() StatusEvents {
	w.mu.Lock()
	defer w.mu.Unlock()
	ev := w.pending
	w.pending = StatusEvents{}
	if ev.Reset {
		ev = StatusEvents{Reset: true}
	}
	return ev
}

// WatchStatus watches, from revision rev+1 until ctx ends, the head, the
// worker registrations and the statuses of task ("": every task): what a
// reader that read all of them at rev or later must know of. It reads
// nothing itself; a watch that fails (a compaction, a lost leader) starts
// again where it stopped, or at the oldest revision etcd still holds, and
// signals its kind (statuses: Reset) in case events were lost.
func (s *Store) WatchStatus(ctx context.Context, task string, rev int64) *StatusWatch {
	w := &StatusWatch{}
	signaller := func() (chan struct{}, func()) {
		out := make(chan struct{}, 1)
		return out, func() {
			select {
			case out <- struct{}{}:
			default:
			}
		}
	}
	// watch follows key (a prefix when prefix), giving each response's
	// events to f and calling lost after a failure.
	watch := func(what, key string, prefix bool, f func([]*clientv3.Event), lost func()) {
		next := rev + 1
		for ctx.Err() == nil {
			opts := []clientv3.OpOption{clientv3.WithRev(next)}
			if prefix {
				opts = append(opts, clientv3.WithPrefix())
			}
			wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
			for resp := range s.cli.Watch(wctx, key, opts...) {
				if resp.CompactRevision != 0 {
					next = resp.CompactRevision
				}
				if err := resp.Err(); err != nil {
					if ctx.Err() == nil {
						s.log.Warn("watch "+what, "err", err)
					}
					break
				}
				if len(resp.Events) > 0 {
					next = resp.Events[len(resp.Events)-1].Kv.ModRevision + 1
					f(resp.Events)
				}
			}
			cancel()
			if ctx.Err() == nil {
				lost()
				sleep(ctx, 100*time.Millisecond)
			}
		}
	}
	head, headSignal := signaller()
	workers, workersSignal := signaller()
	statuses, statusesSignal := signaller()
	w.Head, w.Workers, w.Statuses = head, workers, statuses
	go watch("head", keyHead, false, func([]*clientv3.Event) { headSignal() }, headSignal)
	go watch("workers", pfxWorker, true, func([]*clientv3.Event) { workersSignal() }, workersSignal)
	p := statusPrefix(task)
	go watch("statuses", p, true, func(evs []*clientv3.Event) {
		w.mu.Lock()
		for _, ev := range evs {
			seg := lastSegments(string(ev.Kv.Key), pfxStatus)
			if len(seg) != 2 {
				continue // not a status key
			}
			if ev.Type == clientv3.EventTypeDelete {
				w.pending.Changes = append(w.pending.Changes, StatusChange{Status: SubtaskStatus{Task: seg[0], Source: seg[1]}, Deleted: true})
				continue
			}
			var st SubtaskStatus
			if err := decodeInto(ev.Kv.Key, ev.Kv.Value, &st); err != nil {
				s.log.Warn("watch statuses", "err", err)
				w.pending.Reset = true // the read reports it
				continue
			}
			w.pending.Changes = append(w.pending.Changes, StatusChange{Status: st})
		}
		w.mu.Unlock()
		statusesSignal()
	}, func() {
		w.mu.Lock()
		w.pending.Reset = true
		w.mu.Unlock()
		statusesSignal()
	})
	return w
}
