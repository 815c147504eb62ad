package store

import (
	"context"
	"slices"
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

// StatusWatch signals, on one channel per kind, that something `dmplan
// status` shows may have changed. Each channel holds at most one signal:
// a reader that is busy re-reading misses no change, and reads once for
// many.
type StatusWatch struct {
	Head     <-chan struct{} // the head moved: an apply, or a failover rebind
	Workers  <-chan struct{} // an agent registered, or its lease ended
	Statuses <-chan struct{} // a status of the watched task was written or deleted
}

// WatchStatus watches, from revision rev+1 until ctx ends, the head, the
// worker registrations and the statuses of task ("": every task): what a
// reader that read all of them at rev or later must read again. It reads
// nothing itself; a watch that fails (a compaction, a lost leader) starts
// again where it stopped, or at the oldest revision etcd still holds, and
// signals its kind in case events were lost.
func (s *Store) WatchStatus(ctx context.Context, task string, rev int64) StatusWatch {
	watch := func(what, key string, prefix bool) <-chan struct{} {
		out := make(chan struct{}, 1)
		signal := func() {
			select {
			case out <- struct{}{}:
			default:
			}
		}
		go func() {
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
						signal()
					}
				}
				cancel()
				if ctx.Err() == nil {
					signal()
					sleep(ctx, 100*time.Millisecond)
				}
			}
		}()
		return out
	}
	return StatusWatch{
		Head:     watch("head", keyHead, false),
		Workers:  watch("workers", pfxWorker, true),
		Statuses: watch("statuses", statusPrefix(task), true),
	}
}
