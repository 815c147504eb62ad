package main

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/dmplan/dmplan/internal/statusview"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
)

func (a *app) stateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Read the applied state for offline planning",
		Args:  cobra.NoArgs,
	}
	var outFile string
	pull := &cobra.Command{
		Use:   "pull [--out FILE]",
		Short: "Write the applied state, as of one etcd revision, to a file",
		Long: `State pull writes the state held in etcd as versioned JSON: sources, tasks,
bounds, the live workers, the etcd revision it was read at and the
installation's salt of password digests. Passwords are references and
digests only; no value is ever in etcd.

"dmplan plan -f DIR --state FILE" plans against the file with no etcd
access, exactly as it would against etcd at that revision; a plan saved
from it with --out is applied with "dmplan apply PLAN_FILE" against etcd,
and refused if etcd moved past that revision. The file holds the digests
and their salt: keep it where etcd backups go (docs/keyspace.md, "Secrets").
` + exitCodesHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := a.pullState(cmd.Context())
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := planner.WriteStateFile(&buf, f); err != nil {
				return err
			}
			if outFile == "" {
				_, err := a.out.Write(buf.Bytes())
				return err
			}
			if err := writeFileAtomic(outFile, buf.Bytes()); err != nil {
				return fmt.Errorf("state pull: %w", err)
			}
			fmt.Fprintf(a.err, "Wrote the state at revision %d to %s.\n", f.Revision, outFile)
			return nil
		},
	}
	pull.Flags().StringVar(&outFile, "out", "", "write to FILE (mode 0600) instead of standard output")
	cmd.AddCommand(pull)
	return cmd
}

// pullState reads the applied state, the workers and the installation.
func (a *app) pullState(ctx context.Context) (*planner.StateFile, error) {
	f, live, err := a.pullStateAlongside(ctx, nil)
	if err != nil {
		return nil, err
	}
	live()
	return f, nil
}

// pullStateAlongside is pullState that runs alongside(salt) — the local
// work that needs only the installation's salt, such as loading the
// desired state's files — while it reads the state: on two cores the two
// halves of a large plan overlap. An error of alongside is returned first.
// The state alongside returns (nil: none) is what the read takes
// unchanged objects from (store.ReadLike): the StateFile's objects then
// share memory with it. The StateFile's Live facts are filled in while
// the caller goes on, and are there once live returns.
func (a *app) pullStateAlongside(ctx context.Context, alongside func(salt []byte) (*planner.State, error)) (_ *planner.StateFile, live func(), _ error) {
	cli, err := a.sharedEtcd(ctx)
	if err != nil {
		return nil, nil, err
	}
	st := store.New(cli)
	in, err := st.Installation(ctx)
	if err != nil {
		return nil, nil, err
	}
	var (
		side    *planner.State
		sideErr error
		snap    *store.Snapshot
	)
	if alongside == nil {
		snap, err = st.Read(ctx)
	} else {
		done := make(chan struct{})
		go func() {
			defer close(done)
			side, sideErr = alongside(in.Salt)
		}()
		snap, err = st.ReadLike(ctx, func() (*planner.State, error) {
			<-done
			return side, sideErr
		})
		<-done
	}
	if sideErr != nil {
		return nil, nil, sideErr
	}
	if err != nil {
		return nil, nil, err
	}
	statuses, err := st.Statuses(ctx)
	if err != nil {
		return nil, nil, err
	}
	locks, err := st.ShardLocks(ctx)
	if err != nil {
		return nil, nil, err
	}
	schemas, err := st.ShardSchemas(ctx)
	if err != nil {
		return nil, nil, err
	}
	f := &planner.StateFile{Revision: snap.Revision, Salt: in.Salt, State: snap.State, Workers: snap.Workers}
	// The status view of 100,000 subtasks is a fifth of a second: it is
	// built while plan diffs.
	done := make(chan struct{})
	go func() {
		defer close(done)
		v := statusview.Build(snap, statuses, nil, "")
		v.ShardLocks = statusview.Locks(locks, "")
		v.ShardSchemas = statusview.Schemas(schemas, "")
		f.Live = liveFacts(v)
	}()
	return f, func() { <-done }, nil
}

func readStateFile(path string) (*planner.StateFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	defer f.Close()
	sf, err := planner.ReadStateFile(f)
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", path, err)
	}
	return sf, nil
}

// writeFileAtomic writes data to path through a temporary file and a
// rename, readable by the owner only.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
