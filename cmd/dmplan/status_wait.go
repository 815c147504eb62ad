package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/dmplan/dmplan/internal/statusview"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
)

// Exit codes of `dmplan status --wait`.
const (
	exitWaitTimeout = 2 // the timeout passed before every subtask was there
	exitWaitFailed  = 3 // a subtask is in stage error for the applied config
)

// statusWait is `dmplan status --wait`: read the status once, then follow
// etcd's watch of the head, the workers and the task's statuses, judging
// again after each change (statusview's Expect and Wait), until every
// subtask is there, one fails, the timeout passes or ctx ends.
func (a *app) statusWait(ctx context.Context, st *store.Store, task string, applies int, timeout time.Duration,
	render func(io.Writer, statusview.View) error) error {
	wctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	w := &statusWaiter{st: st, task: task, applies: applies}
	if err := w.readState(wctx); err != nil {
		return a.waitErr(ctx, wctx, timeout, err)
	}
	if err := w.readStatuses(wctx); err != nil {
		return a.waitErr(ctx, wctx, timeout, err)
	}
	// Everything was read at or after the state's revision: a change
	// since then is an event.
	changes := st.WatchStatus(wctx, task, w.snap.ReadRevision)
	show := func(v statusview.View) error {
		if err := addShards(ctx, st, &v, task); err != nil {
			return err
		}
		return render(a.out, v)
	}
	for {
		v := w.view()
		state, rows := v.Wait()
		switch state {
		case statusview.Done:
			return show(v)
		case statusview.Failed:
			if err := show(v); err != nil {
				return err
			}
			fmt.Fprintf(a.err, "Error: status --wait: %s\n", describeFailed(rows))
			return exitCodeError(exitWaitFailed)
		}
		var err error
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return fmt.Errorf("status --wait: interrupted")
			}
			if err := show(v); err != nil {
				return err
			}
			fmt.Fprintf(a.err, "Error: status --wait: timed out after %s: %s\n", timeout, describeWaiting(rows, len(v.Subtasks)))
			return exitCodeError(exitWaitTimeout)
		case <-changes.Head:
			err = w.readState(wctx)
		case <-changes.Workers:
			err = w.readWorkers(wctx)
		case <-changes.Statuses:
			ev := changes.TakeStatuses()
			if ev.Reset {
				err = w.readStatuses(wctx)
			}
			w.apply(ev)
		}
		if err != nil && wctx.Err() == nil {
			return err
		}
	}
}

// waitErr is the error of a read that failed before the watch began: a
// timeout when the timeout cut it short.
func (a *app) waitErr(ctx, wctx context.Context, timeout time.Duration, err error) error {
	if ctx.Err() == nil && wctx.Err() != nil {
		fmt.Fprintf(a.err, "Error: status --wait: timed out after %s reading the status: %v\n", timeout, err)
		return exitCodeError(exitWaitTimeout)
	}
	return err
}

// statusWaiter holds what `status --wait` read last; each kind of change
// is read again on its own (an apply: the state and history; an agent
// coming or going: the workers), and the task's statuses are kept up to
// date from the watch's events, so that a copy's progress reports cost
// their events, not a read of the statuses or of the whole state.
type statusWaiter struct {
	st      *store.Store
	task    string
	applies int

	snap     *store.Snapshot
	hist     []store.ApplyRecord
	want     map[planner.SubtaskID]string // the applied configs' fingerprints
	statuses map[planner.SubtaskID]store.SubtaskStatus
}

func (w *statusWaiter) readState(ctx context.Context) error {
	snap, err := w.st.Read(ctx)
	if err != nil {
		return err
	}
	if w.task != "" {
		if _, ok := snap.State.Tasks[w.task]; !ok {
			return fmt.Errorf("status: no task %q has been applied", w.task)
		}
	}
	hist, err := w.st.History(ctx, w.applies)
	if err != nil {
		return err
	}
	w.snap, w.hist, w.want = snap, hist, statusview.Fingerprints(snap, w.task)
	return nil
}

func (w *statusWaiter) readWorkers(ctx context.Context) error {
	ws, err := w.st.Workers(ctx)
	if err != nil {
		return err
	}
	snap := *w.snap
	snap.Workers = ws
	w.snap = &snap
	return nil
}

func (w *statusWaiter) readStatuses(ctx context.Context) error {
	sts, err := w.st.StatusesOf(ctx, w.task)
	if err != nil {
		return err
	}
	w.statuses = make(map[planner.SubtaskID]store.SubtaskStatus, len(sts))
	for _, st := range sts {
		w.statuses[planner.SubtaskID{Task: st.Task, Source: st.Source}] = st
	}
	return nil
}

// apply applies the statuses' events to what was read.
func (w *statusWaiter) apply(ev store.StatusEvents) {
	for _, c := range ev.Changes {
		id := planner.SubtaskID{Task: c.Status.Task, Source: c.Status.Source}
		if c.Deleted {
			delete(w.statuses, id)
		} else {
			w.statuses[id] = c.Status
		}
	}
}

// view is the status as read, judged against the applied configs.
func (w *statusWaiter) view() statusview.View {
	sts := slices.Collect(maps.Values(w.statuses))
	v := statusview.Build(w.snap, sts, w.hist, w.task)
	v.Expect(w.want)
	return v
}

// describeFailed names the failed subtasks and their errors.
func describeFailed(rows []statusview.Subtask) string {
	parts := make([]string, len(rows))
	for i, s := range rows {
		parts[i] = fmt.Sprintf("subtask %s/%s is in stage error: %s", s.Task, s.Source, s.Error)
	}
	return strings.Join(parts, "; ")
}

// describeWaiting says which subtasks are not there yet, and why (the
// first five).
func describeWaiting(rows []statusview.Subtask, total int) string {
	const shown = 5
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d subtasks not there yet: ", len(rows), total)
	for i, s := range rows {
		if i == shown {
			fmt.Fprintf(&b, " (and %d more)", len(rows)-shown)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		why := s.Note
		if why == "" {
			why = "stage " + string(s.Stage)
			if s.Unit != "" {
				why += ", unit " + s.Unit
			}
		}
		fmt.Fprintf(&b, "%s/%s (%s)", s.Task, s.Source, why)
	}
	return b.String()
}
