package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
)

func (a *app) applyCommand() *cobra.Command {
	var (
		files       fileFlags
		autoApprove bool
	)
	cmd := &cobra.Command{
		Use:   "apply [PLAN_FILE | -f FILE_OR_DIR...]",
		Short: "Write the desired state to etcd, atomically",
		Long: `Apply writes a plan to etcd in one atomic step: all of it lands, or none.

  dmplan apply PLAN_FILE     applies exactly the plan saved by "dmplan plan --out",
                             and refuses it if the state in etcd changed since
  dmplan apply -f DIR        plans, prints the plan, asks for confirmation on a
                             terminal (--auto-approve skips it), then applies

Without a terminal and without --auto-approve, apply -f refuses to run.
Two concurrent applies never interleave: the second is refused as stale.
` + exitCodesHelp + ` (also: the plan is stale, or it was not confirmed)`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			switch {
			case len(args) == 1 && len(files.paths) > 0:
				return errors.New("give either a plan file or -f, not both")
			case len(args) == 1:
				p, digest, err := readPlanFileToApply(args[0])
				if err != nil {
					return err
				}
				return a.applyPlanFile(ctx, p, digest)
			case len(files.paths) == 0:
				return errors.New("nothing to apply: give a plan file or -f FILE_OR_DIR")
			}
			return a.planAndApply(ctx, &files, autoApprove)
		},
	}
	files.register(cmd)
	cmd.Flags().BoolVar(&autoApprove, "auto-approve", false, "apply without asking for confirmation")
	return cmd
}

// planAndApply plans -f against etcd, prints the plan, asks for
// confirmation unless autoApprove, and applies it.
func (a *app) planAndApply(ctx context.Context, files *fileFlags, autoApprove bool) error {
	p, cur, _, err := a.planAgainst(ctx, files, "")
	if err != nil {
		return err
	}
	if err := planner.RenderText(a.out, p, planner.TextOptions{Color: a.color(a.out)}); err != nil {
		return err
	}
	if !p.HasChanges() {
		return nil
	}
	if !autoApprove {
		if err := a.confirm(); err != nil {
			return err
		}
	}
	// The state it was planned from is the base the store computes the
	// writes against (it is not read a second time); the store checks it
	// against the head's counts and refuses the plan if the head moved.
	return a.applyPlanAs(ctx, p, "", &cur.State)
}

var errNotConfirmed = errors.New("apply cancelled: the plan was not confirmed")

// confirm asks on a terminal; without one it refuses rather than guess.
func (a *app) confirm() error {
	if !isTerminal(a.in) {
		return errors.New("refusing to apply: standard input is not a terminal, so nobody can confirm the plan; review it with \"dmplan plan\" and use --auto-approve, or apply a saved plan file")
	}
	fmt.Fprint(a.out, "\nDo you want to apply this plan? Only 'yes' is accepted: ")
	line, err := bufio.NewReader(a.in).ReadString('\n')
	if err != nil && line == "" {
		return errNotConfirmed
	}
	if strings.TrimSpace(line) != "yes" {
		return errNotConfirmed
	}
	return nil
}

// applyPlanFile applies a plan read from a file: its passwords carry no
// digests (planner.SealSecrets); they are resolved against the state at
// the plan's base revision and apply's environment. When etcd has moved
// past that revision there is nothing to resolve against: the store then
// recognises the plan as applied already, or refuses it as stale, by the
// digest of the plan as saved.
//
// saved is the plan's digest, as ReadFileDigest returned it.
func (a *app) applyPlanFile(ctx context.Context, p *planner.Plan, saved string) error {
	if !p.HasChanges() {
		fmt.Fprintln(a.out, "No changes to apply.")
		return nil
	}
	cur, err := a.pullState(ctx)
	if err != nil {
		return err
	}
	var base *planner.State
	if cur.Revision == p.BaseRevision {
		if err := planner.ResolveSecrets(p, cur.State, spec.NewHasher(cur.Salt), a.lookupEnv); err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		base = &cur.State
	}
	return a.applyPlanAs(ctx, p, saved, base)
}

// applyPlanAs applies p, recorded in the history under digest (computed
// from p when ""), onto base (the state at p.BaseRevision, or nil).
func (a *app) applyPlanAs(ctx context.Context, p *planner.Plan, digest string, base *planner.State) error {
	cli, err := a.sharedEtcd(ctx) // the one the state was read with
	if err != nil {
		return err
	}
	rec, err := store.New(cli).ApplyOnto(ctx, p, base, store.ApplyRecord{
		Time:       time.Now().UTC(),
		User:       currentUser(a),
		Host:       hostname(),
		GitCommit:  p.GitCommit,
		PlanDigest: digest,
	})
	if errors.Is(err, store.ErrStale) {
		return fmt.Errorf("%w; nothing was applied: run \"dmplan plan\" again", err)
	}
	if err != nil {
		return err
	}
	if rec.Again {
		fmt.Fprintf(a.out, "This plan was applied already (apply %s, revision %d); nothing was applied now.\n", rec.ID, rec.Revision)
		return nil
	}
	s := p.Summary()
	fmt.Fprintf(a.out, "Apply complete: %d created, %d updated, %d replaced, %d deleted (apply %s).\n",
		s.Create, s.Update, s.Replace, s.Delete, rec.ID)
	return nil
}

func currentUser(a *app) string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if v, ok := a.lookupEnv("USER"); ok {
		return v
	}
	return "unknown"
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// gitCommit returns the commit of the git work tree that holds path, with
// "-dirty" when the desired state there has uncommitted changes; "" when
// path is not in a git work tree.
func gitCommit(path string) string {
	dir := path
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		dir = filepath.Dir(path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	commit := strings.TrimSpace(string(out))
	abs, err := filepath.Abs(path)
	if err != nil {
		return commit
	}
	st, err := exec.CommandContext(ctx, "git", "-C", dir, "status", "--porcelain", "--", abs).Output()
	if err == nil && len(strings.TrimSpace(string(st))) > 0 {
		commit += "-dirty"
	}
	return commit
}
