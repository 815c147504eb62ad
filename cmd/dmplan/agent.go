package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/dmplan/dmplan/agent"
	"github.com/dmplan/dmplan/units"
)

// agentFlags are the flags of `dmplan agent`, shared with `dmplan up`.
type agentFlags struct {
	name, address string
	leaseTTL      time.Duration
	metricsAddr   string
	envFile       string
	relayDir      string
}

func (f *agentFlags) register(cmd *cobra.Command, defaultName string) {
	fl := cmd.Flags()
	fl.StringVar(&f.name, "name", defaultName, "the agent's name: sources are bound (or pinned with spec.worker) to it")
	fl.StringVar(&f.address, "address", "", "an address to show with the agent's registration (informational)")
	fl.DurationVar(&f.leaseTTL, "lease-ttl", agent.DefaultLeaseTTL, "lease TTL: when the agent dies, its sources move this long after its last keepalive (whole seconds)")
	fl.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464); off when empty")
	fl.StringVar(&f.relayDir, "relay-dir", "", "keep the relays of sources with spec.relay enabled here, one directory per source (default "+agent.DefaultRelayDir+"; dmplan up: DATA_DIR/relay)")
	fl.StringVar(&f.envFile, "env-file", "", "read ${VAR} passwords from this KEY=VALUE file before the environment; re-read when it changes, so a rotated password reaches the running agent")
}

func (a *app) agentCommand() *cobra.Command {
	var f agentFlags
	cmd := &cobra.Command{
		Use:   "agent --name NAME [--address ADDR] [--lease-ttl 5s] [--metrics-addr ADDR] [--env-file FILE]",
		Short: "Run the units of the sources bound to this agent",
		Long: `Agent registers under an etcd lease as worker NAME, watches the applied state
and keeps the units (dump, load, sync) of every subtask whose source is bound
to it as applied: it starts, pauses, resumes, stops and restarts them, and
reports each subtask's stage, unit, progress, position, lag and last error
(see "dmplan status").

Passwords: the applied state holds ${VAR} references and digests only. The
agent reads VAR from --env-file (re-read when it changes), else from its own
environment, and refuses a value whose digest differs from the applied one.
The env file is checked every second; a change is acted on at once.

Failover: agents elect a leader that moves the sources of an agent whose lease
expired (--lease-ttl after it died) to live agents, and binds waiting sources
when an agent joins. An agent that cannot renew its lease stops all its units.

SIGINT or SIGTERM stops the units (their checkpoints stay in the target) and
releases the lease, so the sources move at once; a second signal exits at once.
` + exitCodesHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.name == "" {
				return errors.New("--name is required")
			}
			log, err := a.logger()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			// Not cancelled with ctx: the agent revokes its lease after
			// ctx ends, through this client.
			cli, err := a.etcdClient(context.WithoutCancel(ctx))
			if err != nil {
				return err
			}
			defer cli.Close()
			return a.runAgent(ctx, cli, log, f, nil)
		},
	}
	f.register(cmd, "")
	return cmd
}

// runAgent runs an agent with the real units until ctx ends.
func (a *app) runAgent(ctx context.Context, cli *clientv3.Client, log *slog.Logger, f agentFlags, ready func()) error {
	getenv := a.lookupEnv
	var wake <-chan struct{}
	if f.envFile != "" {
		ef, err := agent.NewEnvFile(f.envFile, a.lookupEnv, log)
		if err != nil {
			return fmt.Errorf("--env-file: %w", err)
		}
		getenv, wake = ef.Lookup, ef.Watch(ctx, time.Second)
	}
	var metrics *agent.Metrics
	if f.metricsAddr != "" {
		metrics = agent.NewMetrics(f.name)
		stop, err := serveMetrics(f.metricsAddr, metrics, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	return agent.Run(ctx, agent.Config{
		Name: f.name, Address: f.address, Client: cli, LeaseTTL: f.leaseTTL,
		RunUnit: func(ctx context.Context, cfg units.Config, r units.Reporter) error {
			return units.Run(ctx, cfg, r, log) // Run adds task and source to its log lines
		},
		PinUnit: func(ctx context.Context, cfg units.Config) (units.Position, error) {
			return units.Pin(ctx, cfg, log)
		},
		Getenv: getenv, Wake: wake, Logger: log, Metrics: metrics, Ready: ready, RelayDir: f.relayDir,
	})
}

// serveMetrics serves /metrics at addr until stop is called.
func serveMetrics(addr string, m *agent.Metrics, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() { srv.Close() }, nil
}
