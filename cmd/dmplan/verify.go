package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dmplan/dmplan/agent"
	"github.com/dmplan/dmplan/internal/refresh"
	"github.com/dmplan/dmplan/internal/statusview"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/internal/verify"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
	"github.com/dmplan/dmplan/units"
)

const exitDiffer = 2 // verify: rows differ

func (a *app) verifyCommand() *cobra.Command {
	var (
		source, output, fixSQL, envFile string
		tables                          []string
		opts                            verify.Options
	)
	cmd := &cobra.Command{
		Use:   "verify TASK [--source NAME] [--tables PATTERN]... [-o text|json|markdown] [--fix-sql FILE]",
		Short: "Compare a task's target tables with its sources, while sync runs",
		Long: `Verify reads the applied task from etcd and compares every table it selects
(after routes: a merged table with the union of its shards) between the
sources and the target, chunk by chunk (by primary key, or a NOT NULL unique
key; a table without one is compared whole), with a row count and an exact,
order-free hash of every column on each side, in parallel connections.

Sync may keep running: a chunk that differs is checked again once the
subtask's checkpoint has passed the source position it was read at
(--chunk-retries times), then row by row (--row-retries times); only rows
that still differ are reported, with their key and the columns that differ.

Verify never changes anything. --fix-sql FILE writes the REPLACE and DELETE
statements that would make the target equal, for a person to review.

Passwords are read like agents read them: from --env-file, else from the
environment (the ${VAR} references of the applied Source and Task).
` + exitCodesHelp + `
  2  rows differ (0 means every table is equal)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			render, err := verifyRenderer(output)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			log, err := a.logger()
			if err != nil {
				return err
			}
			getenv := a.lookupEnv
			if envFile != "" {
				ef, err := agent.NewEnvFile(envFile, a.lookupEnv, log)
				if err != nil {
					return fmt.Errorf("--env-file: %w", err)
				}
				getenv = ef.Lookup
			}
			cli, err := a.etcdClient(ctx)
			if err != nil {
				return err
			}
			st := store.New(cli)
			snap, err := st.Read(ctx)
			var h *spec.Hasher
			if err == nil {
				h, err = st.Hasher(ctx)
			}
			var statuses []store.SubtaskStatus
			if err == nil {
				statuses, err = waitCopied(ctx, st, snap, args[0], opts.Wait, a.err)
			}
			cli.Close()
			if err != nil {
				return err
			}
			subs, err := verifySubtasks(snap.State, args[0], h, getenv)
			if err != nil {
				return err
			}
			markStalled(subs, statusview.Build(snap, statuses, nil, args[0]))
			opts.Subtasks, opts.Source, opts.Tables, opts.Log = subs, source, tables, log
			var fix *os.File
			if fixSQL != "" {
				if fix, err = os.OpenFile(fixSQL, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600); err != nil {
					return fmt.Errorf("--fix-sql: %w", err)
				}
				defer fix.Close()
				opts.FixSQL = fix
			}
			bar := isTerminal(a.err) && output == "text"
			if bar {
				opts.Progress = func(p verify.Progress) { drawVerifyProgress(a.err, p) }
			}
			rep, err := verify.Run(ctx, opts)
			if err != nil {
				return err
			}
			if err := render(a.out, rep); err != nil {
				return err
			}
			if fix != nil {
				if err := fix.Close(); err != nil {
					return fmt.Errorf("--fix-sql: %w", err)
				}
			}
			switch rep.Outcome() {
			case 2:
				a.exitCode = exitDiffer
			case 1:
				a.exitCode = exitError
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&source, "source", "", "compare only the tables this source feeds")
	fl.StringArrayVar(&tables, "tables", nil, "compare only tables matching this pattern (target or source name, table-filter syntax; repeatable)")
	fl.StringVarP(&output, "output", "o", "text", "output format: text, json or markdown")
	fl.StringVar(&fixSQL, "fix-sql", "", "write the statements that would make the target equal to FILE (never run)")
	fl.StringVar(&envFile, "env-file", "", "read ${VAR} passwords from this KEY=VALUE file before the environment")
	fl.IntVar(&opts.Parallel, "parallel", 4, "chunks compared at once (connections per server)")
	fl.IntVar(&opts.ChunkRows, "chunk-rows", 10000, "rows per chunk")
	fl.IntVar(&opts.ChunkRetries, "chunk-retries", 2, "checks of a differing chunk before it is compared row by row")
	fl.IntVar(&opts.RowRetries, "row-retries", 5, "checks of a differing row before it is reported")
	fl.DurationVar(&opts.Wait, "wait", 2*time.Minute, "how long a re-check waits for sync to pass the source position")
	fl.StringVar((*string)(&opts.Hash), "hash", "crc32c", "row hash: crc32c (fastest), crc64 (64 bits, about 1.5x the server CPU) or md5")
	fl.IntVar(&opts.MaxRows, "max-rows", 100, "differing rows listed per table (all of them go to --fix-sql)")
	return cmd
}

func verifyRenderer(format string) (func(io.Writer, *verify.Report) error, error) {
	switch format {
	case "text", "":
		return verify.RenderText, nil
	case "json":
		return verify.RenderJSON, nil
	case "markdown", "md":
		return verify.RenderMarkdown, nil
	}
	return nil, fmt.Errorf("-o %q: want text, json or markdown", format)
}

// verifySubtasks builds the task's subtasks with their passwords resolved.
func verifySubtasks(st planner.State, task string, h *spec.Hasher, getenv func(string) (string, bool)) ([]verify.Subtask, error) {
	if _, ok := st.Tasks[task]; !ok {
		var names []string
		for n := range st.Tasks {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("verify: no task %q has been applied (applied tasks: %s)", task, orNone(names))
	}
	var out []verify.Subtask
	for id, sub := range st.Subtasks() {
		if id.Task != task {
			continue
		}
		src, ok := st.Sources[id.Source]
		if !ok {
			return nil, fmt.Errorf("verify %s: source %s is not applied", id, id.Source)
		}
		from, err := refresh.Endpoint(src.Endpoint, "source "+src.Name, h, getenv)
		if err != nil {
			return nil, err
		}
		to, err := refresh.Endpoint(sub.Target, "the target of task "+task, h, getenv)
		if err != nil {
			return nil, err
		}
		v := verify.Subtask{Task: id.Task, Source: id.Source, Mode: units.Mode(sub.Mode), From: from, To: to,
			Flavor: string(src.Flavor), Tables: append([]string(nil), sub.Tables...)}
		for _, r := range sub.Routes {
			v.Routes = append(v.Routes, units.Route{From: r.From, To: r.To})
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out, nil
}

// waitCopied reads the statuses of the task's subtasks, and while any of
// them is still copying (dump or load running on a live agent, or about
// to start), waits for its copy to finish, up to wait, saying so on w:
// there is nothing to compare before. It returns the last statuses read.
func waitCopied(ctx context.Context, st *store.Store, snap *store.Snapshot, task string, wait time.Duration, w io.Writer) ([]store.SubtaskStatus, error) {
	deadline := time.Now().Add(wait)
	said := map[string]bool{}
	for {
		statuses, err := st.Statuses(ctx)
		if err != nil {
			return nil, err
		}
		var copying []string
		for _, s := range statusview.Build(snap, statuses, nil, task).Subtasks {
			if s.DesiredStage != spec.StageRunning || s.Worker == "" || strings.HasPrefix(s.Note, "waiting for an agent") || s.Error != "" {
				continue
			}
			if s.Stage == "" || s.Stage == spec.StageRunning && (s.Unit == "" || s.Unit == "dump" || s.Unit == "load") {
				id := s.Task + "/" + s.Source
				copying = append(copying, id)
				if !said[id] {
					said[id] = true
					fmt.Fprintf(w, "verify: waiting up to %v for %s to finish its copy (%s); nothing to compare before\n", wait, id, copyState(s))
				}
			}
		}
		if len(copying) == 0 || time.Now().After(deadline) {
			return statuses, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func copyState(s statusview.Subtask) string {
	switch {
	case s.Stage == "":
		return "not started yet by " + s.Worker
	case s.Unit == "":
		return "starting"
	case s.Progress.TablesTotal > 0:
		return fmt.Sprintf("%s, %d/%d tables", s.Unit, s.Progress.TablesDone, s.Progress.TablesTotal)
	}
	return s.Unit
}

// markStalled sets Stalled on the subtasks whose sync does not run now,
// as status sees them: a re-check of theirs cannot wait for sync.
func markStalled(subs []verify.Subtask, v statusview.View) {
	why := map[planner.SubtaskID]string{}
	for _, s := range v.Subtasks {
		id := planner.SubtaskID{Task: s.Task, Source: s.Source}
		switch {
		case s.Stage == statusview.StageError:
			why[id] = "observed stage error: " + s.Error
		case s.Stage == spec.StagePaused || s.Stage == spec.StageStopped:
			why[id] = "observed stage " + string(s.Stage)
		case strings.HasPrefix(s.Note, "waiting for an agent"):
			why[id] = "waiting for an agent"
		}
	}
	for i := range subs {
		subs[i].Stalled = why[planner.SubtaskID{Task: subs[i].Task, Source: subs[i].Source}]
	}
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// drawVerifyProgress redraws one line on the terminal: a bar, rows/s, ETA.
func drawVerifyProgress(w io.Writer, p verify.Progress) {
	const width = 30
	frac := 0.0
	if p.RowsTotal > 0 {
		frac = min(1, float64(p.Rows)/float64(p.RowsTotal))
	}
	if p.Done {
		frac = 1
	}
	filled := int(frac * width)
	rate := 0.0
	if s := p.Elapsed.Seconds(); s > 0 {
		rate = float64(p.Rows) / s
	}
	eta := "--"
	if rate > 0 && p.RowsTotal > p.Rows && !p.Done {
		eta = time.Duration(float64(p.RowsTotal-p.Rows) / rate * float64(time.Second)).Round(time.Second).String()
	}
	fmt.Fprintf(w, "\r[%s%s] %3.0f%%  tables %d/%d  rows %d  %.0f rows/s  ETA %s\033[K",
		strings.Repeat("#", filled), strings.Repeat(".", width-filled), frac*100, p.TablesDone, p.Tables, p.Rows, rate, eta)
	if p.Done {
		fmt.Fprintln(w)
	}
}
