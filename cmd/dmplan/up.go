package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/dmplan/dmplan/internal/etcdserver"
)

func (a *app) upCommand() *cobra.Command {
	var (
		files       fileFlags
		dataDir     string
		autoApprove bool
		af          agentFlags
	)
	cmd := &cobra.Command{
		Use:   "up -f FILE_OR_DIR... [--data-dir DIR] [--auto-approve]",
		Short: "One process for one machine: embedded etcd, an agent, and an apply",
		Long: `Up is the single-machine default. In one process it runs:

  1. an embedded single-node etcd (as "dmplan server"), listening on the first
     address of --endpoints (default 127.0.0.1:2379), data in --data-dir;
  2. an agent (as "dmplan agent", named "local" unless --name says otherwise),
     registered before the plan is made so that sources are bound to it;
  3. an apply of -f (as "dmplan apply -f"): the plan is printed and, on a
     terminal, confirmed; without a terminal, --auto-approve is required.

Then it keeps running until SIGINT or SIGTERM: the agent stops its units (their
checkpoints stay in the target) and etcd shuts down cleanly. Other dmplan
commands (status, plan, apply, more agents) reach it at --endpoints.
` + exitCodesHelp + ` (also: the YAML is invalid, or the plan was not confirmed)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files.paths) == 0 {
				return errors.New("nothing to apply: give -f FILE_OR_DIR")
			}
			if !autoApprove && !isTerminal(a.in) {
				return errors.New("refusing to start: standard input is not a terminal, so nobody can confirm the plan; use --auto-approve")
			}
			if _, err := files.load(a); err != nil { // fail before starting anything
				return err
			}
			log, err := a.logger()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			listen := strings.TrimSpace(strings.Split(a.endpoints, ",")[0])
			srv, err := etcdserver.Start(ctx, etcdserver.Config{
				DataDir: dataDir, ClientURL: httpURL(listen), PeerURL: "http://127.0.0.1:0", Logger: log,
			})
			if err != nil {
				return err
			}
			defer srv.Close()
			a.endpoints = strings.Join(srv.Endpoints(), ",")
			cli, err := a.etcdClient(context.WithoutCancel(ctx))
			if err != nil {
				return err
			}
			defer cli.Close()

			actx, stopAgent := context.WithCancel(ctx)
			defer stopAgent()
			ready := make(chan struct{})
			var once sync.Once
			agentDone := make(chan error, 1)
			go func() {
				if af.relayDir == "" {
					af.relayDir = filepath.Join(dataDir, "relay")
				}
				agentDone <- a.runAgent(actx, cli, log, af, func() { once.Do(func() { close(ready) }) })
			}()
			// stop ends the agent (its units stop, its lease is revoked)
			// before etcd closes.
			stop := func(err error) error {
				stopAgent()
				if aerr := <-agentDone; err == nil {
					err = aerr
				}
				return err
			}
			select {
			case <-ready:
			case err := <-agentDone:
				if err == nil {
					err = ctx.Err()
				}
				return fmt.Errorf("agent %q: %w", af.name, err)
			case <-ctx.Done():
				return stop(nil)
			case <-time.After(time.Minute):
				return stop(fmt.Errorf("agent %q did not register within a minute", af.name))
			}

			if err := a.planAndApply(ctx, &files, autoApprove); err != nil {
				return stop(err)
			}
			fmt.Fprintf(a.out, "\ndmplan up: etcd at %s, agent %q running. Press Ctrl-C to stop.\n", a.endpoints, af.name)
			select {
			case <-ctx.Done():
				log.Info("shutting down: stopping the agent, then etcd")
				return stop(nil)
			case err := <-agentDone:
				return fmt.Errorf("agent %q stopped: %w", af.name, err)
			case err := <-srv.Err():
				return stop(fmt.Errorf("etcd stopped: %w", err))
			}
		},
	}
	files.register(cmd)
	cmd.Flags().StringVar(&dataDir, "data-dir", "dmplan-data", "directory for etcd's data (created when missing)")
	cmd.Flags().BoolVar(&autoApprove, "auto-approve", false, "apply without asking for confirmation")
	af.register(cmd, "local")
	return cmd
}
