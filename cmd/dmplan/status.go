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
		applies int
	)
	cmd := &cobra.Command{
		Use:   "status [TASK] [-o text|json] [--watch]",
		Short: "Show desired against observed state for every task and source",
		Long: `Status shows the applied (desired) state next to what the agents report:
for every subtask (task x source) its agent, desired and observed stage, the
unit running, progress, lag, binlog position and last error; the sources and
the agents serving them; and the last applies (who, when, which git commit).

-o json prints the documented machine format (docs/status-format.md).
--watch redraws every second until interrupted.
` + exitCodesHelp,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("-o %q: want text or json", output)
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
			show := func(w io.Writer) error {
				v, err := readView(ctx, st, task, applies)
				if err != nil {
					return err
				}
				if output == "json" {
					return statusview.RenderJSON(w, v)
				}
				return statusview.RenderText(w, v, statusview.TextOptions{Bars: isTerminal(w)})
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
	locks, err := st.ShardLocks(ctx)
	if err != nil {
		return statusview.View{}, err
	}
	schemas, err := st.ShardSchemas(ctx)
	if err != nil {
		return statusview.View{}, err
	}
	v := statusview.Build(snap, statuses, hist, task)
	v.ShardLocks = statusview.Locks(locks, task)
	v.ShardSchemas = statusview.Schemas(schemas, task)
	return v, nil
}
