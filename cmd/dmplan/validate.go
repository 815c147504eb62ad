package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dmplan/dmplan/spec"
)

// fileFlags is the repeatable -f flag of validate, plan, apply and up.
type fileFlags struct{ paths []string }

func (f *fileFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVarP(&f.paths, "filename", "f", nil,
		"YAML file or folder (read recursively for *.yaml/*.yml); repeatable")
}

func (f *fileFlags) load(a *app) (*spec.Set, error) {
	if len(f.paths) == 0 {
		return nil, fmt.Errorf("no desired state given: use -f FILE_OR_DIR")
	}
	return spec.Load(f.paths, a.lookupEnv)
}

func (a *app) validateCommand() *cobra.Command {
	var files fileFlags
	cmd := &cobra.Command{
		Use:   "validate -f FILE_OR_DIR...",
		Short: "Check Source and Task YAML offline",
		Long: `Validate reads the desired state the way plan does (strict fields, names,
references, table patterns, routes, ${VAR} secrets) without contacting etcd.
Every error is reported as file:line: message.
` + exitCodesHelp + ` (the YAML is invalid, or a file cannot be read)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			set, err := files.load(a)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "Valid: %d sources, %d tasks.\n", len(set.Sources), len(set.Tasks))
			return nil
		},
	}
	files.register(cmd)
	return cmd
}
