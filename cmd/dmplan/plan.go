package main

import (
	"context"
	"fmt"
	refreshpkg "github.com/dmplan/dmplan/internal/refresh"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dmplan/dmplan/internal/statusview"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
)

func (a *app) planCommand() *cobra.Command {
	var (
		files    fileFlags
		output   string
		outFile  string
		detailed bool
		state    string
		refresh  bool
	)
	cmd := &cobra.Command{
		Use:   "plan -f FILE_OR_DIR... [-o text|json|markdown] [--out FILE]",
		Short: "Show what apply would change",
		Long: `Plan reads the desired state from YAML and the current state from etcd (at one
revision), and prints what apply would change: create (+), update (~),
replace (-/+) and delete (-), each with the impact on data and running units.

--out FILE saves the plan; "dmplan apply FILE" applies exactly that plan, and
refuses it when the state in etcd has changed since.

--state FILE plans against a file written by "dmplan state pull" instead of
etcd, with no etcd access (pull-request jobs); the plan is the one etcd at
that revision would give, and a plan saved from it is refused by apply once
etcd has moved past that revision.
` + exitCodesHelp + `
  2  with --detailed-exitcode: success, and the plan has changes
     (without it, 0 means success whether or not there are changes)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			render, err := renderer(output, fullPlanHint(outFile))
			if err != nil {
				return err
			}
			p, cur, h, err := a.planAgainst(cmd.Context(), &files, state)
			if err != nil {
				return err
			}
			if refresh {
				// Read-only facts from the servers, passwords from the
				// environment as agents read them; never saved in --out.
				p.Refresh = refreshpkg.Gather(cmd.Context(), refreshpkg.Input{Plan: p, Current: cur.State, Hasher: h, Getenv: a.lookupEnv})
			}
			if err := render(a, a.out, p); err != nil {
				return err
			}
			if outFile != "" {
				// No digest enters the file: each password says where apply
				// takes its digest from (planner.SealSecrets).
				if err := writePlanFile(outFile, planner.SealSecrets(p, cur.State)); err != nil {
					return err
				}
				if output == "text" {
					fmt.Fprintf(a.out, "\nSaved the plan to %s. To apply exactly this plan: dmplan apply %s\n", outFile, outFile)
				}
			}
			if p.Refresh != nil && len(p.Refresh.Errors) > 0 {
				return fmt.Errorf("plan --refresh: %d refresh errors (listed above): the facts are incomplete", len(p.Refresh.Errors))
			}
			if detailed && p.HasChanges() {
				a.exitCode = exitChanges
			}
			return nil
		},
	}
	files.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json or markdown")
	cmd.Flags().StringVar(&outFile, "out", "", "save the plan to FILE for a later \"dmplan apply FILE\"")
	cmd.Flags().StringVar(&state, "state", "", "plan against a state file written by \"dmplan state pull\", without etcd")
	cmd.Flags().BoolVar(&detailed, "detailed-exitcode", false, "exit 2 when the plan has changes, 0 when it has none, 1 on error")
	cmd.Flags().BoolVar(&refresh, "refresh", false, "read the sources and targets of changed subtasks (read-only, passwords from the environment): real tables, estimates, prechecks, drift")
	return cmd
}

type renderFunc func(a *app, w io.Writer, p *planner.Plan) error

func renderer(format, fullPlan string) (renderFunc, error) {
	switch format {
	case "text", "":
		return func(a *app, w io.Writer, p *planner.Plan) error {
			return planner.RenderText(w, p, planner.TextOptions{Color: a.color(w)})
		}, nil
	case "json":
		return func(_ *app, w io.Writer, p *planner.Plan) error { return planner.RenderJSON(w, p) }, nil
	case "markdown", "md":
		return func(_ *app, w io.Writer, p *planner.Plan) error {
			return planner.RenderMarkdownWith(w, p, planner.MarkdownOptions{FullPlan: fullPlan})
		}, nil
	}
	return nil, fmt.Errorf("-o %q: want text, json or markdown", format)
}

// fullPlanHint says where the whole plan is when a markdown plan is cut to
// fit a comment: the plan file saved with it, when there is one.
func fullPlanHint(planFile string) string {
	if planFile == "" {
		return ""
	}
	return "the plan file " + planFile + " saved with this plan (in CI, the job's artifact): `dmplan show " + planFile + "` prints it whole"
}

// planFromFiles reads the current state (etcd at one revision, or a state
// file when stateFile is not ""), loads the YAML with the installation's
// digests and diffs.
func (a *app) planFromFiles(ctx context.Context, files *fileFlags, stateFile string) (*planner.Plan, error) {
	p, _, _, err := a.planAgainst(ctx, files, stateFile)
	return p, err
}

// bigState is the number of objects from which plan collects the desired
// state loader's garbage at once (planAgainst).
const bigState = 10000

// planAgainst is planFromFiles that also returns the current state it
// planned against and the installation's hasher (for --refresh).
func (a *app) planAgainst(ctx context.Context, files *fileFlags, stateFile string) (*planner.Plan, *planner.StateFile, *spec.Hasher, error) {
	if len(files.paths) == 0 {
		return nil, nil, nil, fmt.Errorf("no desired state given: use -f FILE_OR_DIR")
	}
	// The commit of the git work tree holding the files is asked for
	// (two git processes, 15-35 ms) while etcd is read.
	commit := make(chan string, 1)
	go func() { commit <- gitCommit(files.paths[0]) }()
	var (
		cur     *planner.StateFile
		h       *spec.Hasher
		desired planner.State
	)
	load := func(salt []byte) (*planner.State, error) {
		h = spec.NewHasher(salt)
		set, err := spec.LoadWith(files.paths, a.lookupEnv, h)
		if err != nil {
			return nil, err
		}
		desired = planner.FromSpec(set)
		if len(desired.Tasks)+len(desired.Sources) >= bigState {
			// The loader's garbage (its declarations and the Set,
			// 130 MB at 100,000 tasks) is collected now, while etcd is
			// still read: the rest of the plan reuses that memory
			// instead of touching new pages, which on the 2-core machine
			// cost more than the collection (docs/keyspace.md, Cost).
			set = nil
			runtime.GC()
		}
		return &desired, nil
	}
	live := func() {}
	var err error
	if stateFile != "" {
		if cur, err = readStateFile(stateFile); err == nil {
			_, err = load(cur.Salt)
		}
	} else {
		cur, live, err = a.pullStateAlongside(ctx, load)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	// The diff takes desired's maps (DiffRewriting does not copy them),
	// which the current state may share objects with (store.ReadLike):
	// neither is changed in place.
	p := planner.DiffRewriting(desired, cur.State, cur.Workers, planner.LegacyRewriter(h, a.lookupEnv))
	live()
	if err := planner.CheckProtected(p, cur.State); err != nil {
		return nil, nil, nil, err
	}
	p.BaseRevision = cur.Revision
	p.GitCommit = <-commit
	p.Live = cur.Live
	return p, cur, h, nil
}

// liveFacts says which applied subtasks are not where they were asked to
// be (in error, or not yet at their desired stage), for the plan's reader.
// Waiting sources are already listed by the plan itself.
func liveFacts(v statusview.View) []string {
	var out []string
	for _, s := range v.Subtasks {
		switch {
		case s.Stage == statusview.StageError:
			out = append(out, fmt.Sprintf("subtask %s/%s is in error: %s", s.Task, s.Source, s.Error))
		case s.Error != "":
			out = append(out, fmt.Sprintf("subtask %s/%s is %s, last error: %s", s.Task, s.Source, s.Stage, s.Error))
		case !s.InSync && s.Note != "waiting for an agent":
			out = append(out, fmt.Sprintf("subtask %s/%s is not yet %s: %s", s.Task, s.Source, s.DesiredStage, s.Note))
		}
		if v := s.Validation; v != nil && v.Failed > 0 {
			out = append(out, validationFact(s))
		}
	}
	for _, l := range v.ShardLocks {
		line := fmt.Sprintf("shard DDL lock of task %s on %s (%s since %s): %s; reached by %s", l.Task, l.Target, l.State,
			l.Since.UTC().Format(time.RFC3339), l.DDL, strings.Join(l.Reached, ", "))
		if len(l.Awaited) > 0 {
			line += "; awaiting " + strings.Join(l.Awaited, ", ")
		}
		out = append(out, line)
	}
	for _, s := range v.ShardSchemas {
		out = append(out, fmt.Sprintf("optimistic shard schema of task %s on %s: %d of %d shards changed it; joined schema %s", s.Task, s.Target, len(s.Changed), s.Shards, s.Joined))
		for _, c := range s.Conflicts {
			out = append(out, fmt.Sprintf("shard DDL conflict of task %s on %s (since %s): shard %s stopped at %s: %s", s.Task, s.Target,
				c.Since.UTC().Format(time.RFC3339), c.Shard, c.DDL, c.Reason))
		}
	}
	return out
}

// validationFact says which rows validation found differing on a
// subtask's target (a few of them by key).
func validationFact(s statusview.Subtask) string {
	v := s.Validation
	var ex []string
	for _, r := range v.Rows[:min(len(v.Rows), 3)] {
		ex = append(ex, r.Table+" "+r.Key+" ("+r.Kind+")")
	}
	rows := "rows differ"
	if v.Failed == 1 {
		rows = "row differs"
	}
	f := fmt.Sprintf("subtask %s/%s: validation (%s) found %d %s on the target", s.Task, s.Source, v.Mode, v.Failed, rows)
	if len(ex) > 0 {
		f += ": " + strings.Join(ex, ", ")
		if v.Failed > int64(len(ex)) {
			f += ", …"
		}
	}
	return f + "; dmplan status lists them, dmplan verify " + s.Task + " --fix-sql FILE writes the repair"
}

// writePlanFile saves p atomically (temp file + rename), readable by the
// owner only: a plan holds no password and no digest, but it does hold
// hosts and users.
func writePlanFile(path string, p *planner.Plan) error {
	// Streamed to a temporary file, renamed when complete: a plan of
	// 100,000 tasks is hundreds of megabytes, never held in memory twice.
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("save plan to %s: %w", path, err)
	}
	err = planner.WriteFile(f, p)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save plan to %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save plan to %s: %w", path, err)
	}
	return nil
}

func readPlanFile(path string) (*planner.Plan, error) {
	p, _, err := readPlanFileDigest(path)
	return p, err
}

// readPlanFileDigest is readPlanFile that also returns the plan's digest.
func readPlanFileDigest(path string) (*planner.Plan, string, error) {
	return readPlanFileWith(path, planner.ReadFileDigest)
}

// readPlanFileToApply reads a plan file for apply (planner.ReadFileToApply:
// its changes without fields and impact lines).
func readPlanFileToApply(path string) (*planner.Plan, string, error) {
	return readPlanFileWith(path, planner.ReadFileToApply)
}

func readPlanFileWith(path string, read func(io.Reader) (*planner.Plan, string, error)) (*planner.Plan, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("read plan: %w", err)
	}
	defer f.Close()
	p, digest, err := read(f)
	if err != nil {
		return nil, "", fmt.Errorf("read plan %s: %w", path, err)
	}
	return p, digest, nil
}
