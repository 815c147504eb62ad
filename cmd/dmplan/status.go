package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/dmplan/dmplan/internal/statusview"
	"github.com/dmplan/dmplan/internal/store"
)

func (a *app) statusCommand() *cobra.Command {
	var (
		output  string
		watch   bool
		wait    bool
		timeout time.Duration
		applies int
	)
	cmd := &cobra.Command{
		Use:   "status [TASK] [-o text|json] [--watch | --wait [--timeout D]]",
		Short: "Show desired against observed state for every task and source",
		Long: `Status shows the applied (desired) state next to what the agents report:
for every subtask (task x source) its agent, desired and observed stage, the
unit running, progress, lag, binlog position and last error; the sources and
the agents serving them; and the last applies (who, when, which git commit).

-o json prints the documented machine format (docs/status-format.md).
--watch redraws every second until interrupted.

--wait blocks until every subtask of TASK (of every task without one) is
where it was asked to be, for the config applied last, then prints the
status once: a mode full task once its copy has finished, the others once
their observed stage is the desired one; a status an agent wrote for an
earlier config (before it took the last apply) never counts. It follows
etcd's watch, so it returns as soon as the agent's status lands. A subtask
in stage error for the applied config ends the wait at once (exit 3), with
the error. --timeout D bounds the wait (default 0: no limit, as argocd app
wait and kubectl rollout status; give CI jobs one, e.g. --timeout 2h); when
it passes, the status is printed and the exit code is 2.
` + exitCodesHelp + `
  2  --wait: timed out before every subtask was there
  3  --wait: a subtask is in stage error (the message says which and why)`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("-o %q: want text or json", output)
			}
			switch {
			case wait && watch:
				return fmt.Errorf("--wait and --watch: give one (--wait prints once, when done; --watch redraws until interrupted)")
			case timeout != 0 && !wait:
				return fmt.Errorf("--timeout %s: it bounds --wait, which is not given", timeout)
			case timeout < 0:
				return fmt.Errorf("--timeout %s: want a duration of 0 (no limit) or more", timeout)
			}
			task := ""
			if len(args) == 1 {
				task = args[0]
			}
			ctx := cmd.Context()
			cli, err := a.etcdClient(ctx)
			if err != nil {
				return err
			}
			defer cli.Close()
			st := store.New(cli)
			render := func(w io.Writer, v statusview.View) error {
				if output == "json" {
					return statusview.RenderJSON(w, v)
				}
				return statusview.RenderText(w, v, statusview.TextOptions{Bars: isTerminal(w)})
			}
			show := func(w io.Writer) error {
				v, err := readView(ctx, st, task, applies)
				if err != nil {
					return err
				}
				return render(w, v)
			}
			if wait {
				return a.statusWait(ctx, st, task, applies, timeout, render)
			}
			if !watch {
				return show(a.out)
			}
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				if isTerminal(a.out) && output == "text" {
					fmt.Fprint(a.out, "\033[H\033[2J")
				}
				if err := show(a.out); err != nil {
					return err
				}
				select {
				case <-ctx.Done():
					return nil
				case <-tick.C:
				}
			}
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "redraw every second until interrupted")
	cmd.Flags().BoolVar(&wait, "wait", false, "block until every subtask is where it was asked to be for the config applied last, then print the status once")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "with --wait: give up after this long, print the status and exit 2 (0: no limit)")
	cmd.Flags().IntVar(&applies, "applies", 5, "how many of the last applies to show")
	return cmd
}

func readView(ctx context.Context, st *store.Store, task string, applies int) (statusview.View, error) {
	snap, err := st.Read(ctx)
	if err != nil {
		return statusview.View{}, err
	}
	statuses, err := st.Statuses(ctx)
	if err != nil {
		return statusview.View{}, err
	}
	hist, err := st.History(ctx, applies)
	if err != nil {
		return statusview.View{}, err
	}
	if task != "" {
		if _, ok := snap.State.Tasks[task]; !ok {
			return statusview.View{}, fmt.Errorf("status: no task %q has been applied", task)
		}
	}
	v := statusview.Build(snap, statuses, hist, task)
	if err := addShards(ctx, st, &v, task); err != nil {
		return statusview.View{}, err
	}
	return v, nil
}

// addShards adds the open shard DDL locks and records of task to v.
func addShards(ctx context.Context, st *store.Store, v *statusview.View, task string) error {
	locks, err := st.ShardLocks(ctx)
	if err != nil {
		return err
	}
	schemas, err := st.ShardSchemas(ctx)
	if err != nil {
		return err
	}
	v.ShardLocks = statusview.Locks(locks, task)
	v.ShardSchemas = statusview.Schemas(schemas, task)
	return nil
}
