package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/spec"
)

func (a *app) exportCommand() *cobra.Command {
	var outFile string
	cmd := &cobra.Command{
		Use:   "export [--out FILE]",
		Short: "Print the applied state as Source and Task YAML",
		Long: `Export writes the state held in etcd as YAML of the same kinds that plan and
apply read, so that a cluster can be brought under git. Passwords are written
as the ${VAR} references they were applied with; etcd never holds a value.
Planning what export wrote gives "No changes." (with the same variables set).
` + exitCodesHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cli, err := a.etcdClient(ctx)
			if err != nil {
				return err
			}
			defer cli.Close()
			snap, err := store.New(cli).Read(ctx)
			if err != nil {
				return err
			}
			out, err := spec.Marshal(snap.State.Spec())
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			if outFile == "" {
				_, err = a.out.Write(out)
				return err
			}
			if err := os.WriteFile(outFile, out, 0o644); err != nil {
				return fmt.Errorf("export: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&outFile, "out", "", "write to FILE instead of standard output")
	return cmd
}
