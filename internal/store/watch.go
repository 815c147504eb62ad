package store

import (
	"context"
	"time"

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
	out := make(chan int64, 1)
	send := func(rev int64) {
		for {
			select {
			case out <- rev:
				return
			default:
			}
			select { // drop the value the reader has not taken yet
			case <-out:
			default:
			}
		}
	}
	go func() {
		defer close(out)
		last := int64(-1)
		for ctx.Err() == nil {
			h, err := s.readHead(ctx)
			if err != nil {
				s.log.Warn("watch head: read", "err", err)
				sleep(ctx, time.Second)
				continue
			}
			if h.modRev != last {
				last = h.modRev
				send(last)
			}
			wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
			for resp := range s.cli.Watch(wctx, keyHead, clientv3.WithRev(h.readRev+1)) {
				if err := resp.Err(); err != nil {
					s.log.Warn("watch head", "err", err)
					break
				}
				for _, ev := range resp.Events {
					if ev.Type == clientv3.EventTypePut && ev.Kv.ModRevision != last {
						last = ev.Kv.ModRevision
						send(last)
					}
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
