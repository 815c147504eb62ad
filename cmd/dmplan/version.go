package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/dmplan/dmplan/planner"
)

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print dmplan's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			version, commit := "(devel)", ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				if bi.Main.Version != "" {
					version = bi.Main.Version
				}
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						commit = s.Value
					}
				}
			}
			fmt.Fprintf(a.out, "dmplan %s", version)
			if commit != "" {
				fmt.Fprintf(a.out, " (commit %s)", commit)
			}
			fmt.Fprintf(a.out, "\nplan format %d, keyspace /dmplan/v1/\n", planner.FormatVersion)
			return nil
		},
	}
}
