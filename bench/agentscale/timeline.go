package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/spec"
)

// timeline records when the steps of a reaction happened, from watches of
// its own on the head and the worker keys (raw etcd watches: events, no
// reads) and from the observer: the head moved (an apply committed), a
// worker's key was deleted (its lease expired), the first and the last
// subtask observed running.
type timeline struct {
	mu    sync.Mutex
	marks map[string]time.Time

	pending map[string]bool // follow: subtasks not yet running elsewhere
	from    string
	left    int
}

func newTimeline(ctx context.Context, cli *clientv3.Client, obs *observer, sim *simulation) *timeline {
	tl := &timeline{marks: map[string]time.Time{}}
	go func() {
		for resp := range cli.Watch(ctx, "/dmplan/v1/head") {
			for _, ev := range resp.Events {
				tl.mark(fmt.Sprintf("head moved: an apply committed at revision %d", ev.Kv.ModRevision))
			}
		}
	}()
	go func() {
		for resp := range cli.Watch(ctx, "/dmplan/v1/worker/", clientv3.WithPrefix()) {
			for _, ev := range resp.Events {
				if ev.Type == clientv3.EventTypeDelete {
					tl.mark("worker key deleted: " + strings.TrimPrefix(string(ev.Kv.Key), "/dmplan/v1/worker/"))
				}
			}
		}
	}()
	obs.onChange = func(key string, st store.SubtaskStatus, running int) {
		tl.mu.Lock()
		defer tl.mu.Unlock()
		if running > 0 && tl.pending == nil {
			tl.markLocked("first status observed running")
		}
		if tl.pending == nil || !tl.pending[key] || st.Worker == tl.from || st.Stage != spec.StageRunning {
			return
		}
		delete(tl.pending, key)
		if tl.left == len(tl.pending)+1 {
			tl.markLocked(fmt.Sprintf("first of %s's %d subtasks observed running elsewhere", tl.from, tl.left))
		}
		if len(tl.pending) == 0 {
			tl.markLocked(fmt.Sprintf("last of %s's subtasks observed running elsewhere", tl.from))
		}
	}
	return tl
}

// follow marks when the first and the last of subtasks are observed
// running on another worker than from.
func (tl *timeline) follow(subtasks []string, from string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.pending, tl.from, tl.left = map[string]bool{}, from, len(subtasks)
	for _, k := range subtasks {
		tl.pending[k] = true
	}
}

// mark records the first time of what.
func (tl *timeline) mark(what string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.markLocked(what)
}

func (tl *timeline) markLocked(what string) {
	if _, ok := tl.marks[what]; !ok {
		tl.marks[what] = time.Now()
	}
}

// count is the number of marks that start with what.
func (tl *timeline) count(what string) int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	n := 0
	for w := range tl.marks {
		if strings.HasPrefix(w, what) {
			n++
		}
	}
	return n
}

func (tl *timeline) reset() {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.marks = map[string]time.Time{}
}

// print lists the marks in time order, relative to t0.
func (tl *timeline) print(indent string, t0 time.Time) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	type m struct {
		what string
		at   time.Time
	}
	var ms []m
	for w, at := range tl.marks {
		ms = append(ms, m{w, at})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].at.Before(ms[j].at) })
	for _, x := range ms {
		fmt.Printf("%s  %7.0f ms  %s\n", indent, float64(x.at.Sub(t0))/float64(time.Millisecond), x.what)
	}
}

// disk is what etcd's write-ahead log fsyncs took so far (etcd's own
// metrics, in the default Prometheus registry the embedded server
// registers with): a slow disk, shared with other work, shows here.
type disk struct {
	fsyncs int
	took   time.Duration
}

func diskNow() disk {
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		return disk{}
	}
	for _, mf := range mfs {
		if mf.GetName() != "etcd_disk_wal_fsync_duration_seconds" {
			continue
		}
		var d disk
		for _, m := range mf.GetMetric() {
			d.fsyncs += int(m.GetHistogram().GetSampleCount())
			d.took += time.Duration(m.GetHistogram().GetSampleSum() * float64(time.Second))
		}
		return d
	}
	return disk{}
}

// since describes the fsyncs after d0.
func (d disk) since(d0 disk) string {
	n := d.fsyncs - d0.fsyncs
	if n == 0 {
		return "no WAL fsync"
	}
	took := d.took - d0.took
	return fmt.Sprintf("%d WAL fsyncs, %.0f ms in all, %.1f ms each", n, float64(took)/float64(time.Millisecond), float64(took)/float64(time.Millisecond)/float64(n))
}

// requests counts the gRPC requests etcd served, by method (etcd's own
// metrics): unary calls handled, and messages received on streams
// (keepalives, watch requests).
func requests() map[string]int {
	out := map[string]int{}
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		name := mf.GetName()
		if name != "grpc_server_handled_total" && name != "grpc_server_msg_received_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var method, typ string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "grpc_method":
					method = l.GetValue()
				case "grpc_type":
					typ = l.GetValue()
				}
			}
			unary := typ == "unary"
			if unary != (name == "grpc_server_handled_total") {
				continue
			}
			out[method] += int(m.GetCounter().GetValue())
		}
	}
	return out
}

// requestsSince describes the requests after r0, most first.
func requestsSince(r0 map[string]int) string {
	type mc struct {
		method string
		n      int
	}
	var l []mc
	for m, n := range requests() {
		if d := n - r0[m]; d > 0 {
			l = append(l, mc{m, d})
		}
	}
	if len(l) == 0 {
		return "none counted"
	}
	sort.Slice(l, func(i, j int) bool { return l[i].n > l[j].n || l[i].n == l[j].n && l[i].method < l[j].method })
	var parts []string
	for _, x := range l {
		parts = append(parts, fmt.Sprintf("%s %d", x.method, x.n))
	}
	return strings.Join(parts, ", ")
}
