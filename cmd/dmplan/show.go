package main

import (
	"github.com/spf13/cobra"
)

func (a *app) showCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show PLAN_FILE [-o text|json|markdown]",
		Short: "Print a saved plan",
		Long: `Show prints a plan saved by "dmplan plan --out" whole, as plan printed it
(without the --refresh facts, which a plan file does not keep). It reads only
the file: no etcd access, no password needed. A markdown plan cut to fit a
pull-request comment points here for the rest.
` + exitCodesHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			render, err := renderer(output, fullPlanHint(""))
			if err != nil {
				return err
			}
			p, err := readPlanFile(args[0])
			if err != nil {
				return err
			}
			return render(a, a.out, p)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json or markdown")
	return cmd
}
