package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/reconciler"
	"github.com/dmplan/dmplan/units"
)

// Defaults for Config fields left zero.
const (
	// DefaultLeaseTTL keeps failover under 10 s: the lease expires 5 s
	// after the agent's last keepalive, the leader notices within
	// DefaultFailoverPoll and rebinds in one apply.
	DefaultLeaseTTL       = 5 * time.Second
	DefaultStatusInterval = 500 * time.Millisecond
	DefaultFailoverPoll   = 500 * time.Millisecond // x 10: the leader's periodic re-check
	// DefaultRelayDir is where relays are kept without --relay-dir
	// (`dmplan up` uses DATA_DIR/relay).
	DefaultRelayDir = "dmplan-data/relay"
	// DefaultStatusRefresh rewrites every status this often even when it
	// did not change (its updatedAt says the agent is alive). Previous
	// owners delete a status only while it is under their own lease, so
	// the refresh restores nothing and is kept rare: at 10,000 subtasks
	// every 10 s it alone wrote 1.4 GB an hour into etcd's history.
	DefaultStatusRefresh = 5 * time.Minute
)

// ErrConfig is returned by Run for a Config it cannot run with.
var ErrConfig = errors.New("invalid agent config")

// Config is one agent.
type Config struct {
	Name    string // required: the worker name sources are bound to (a DNS label)
	Address string // informational, shown with the registration

	Client   *clientv3.Client // required; the caller keeps ownership
	LeaseTTL time.Duration    // default DefaultLeaseTTL; whole seconds (etcd's unit)

	// RunUnit runs one subtask's units (units.Run, or a simulation for a
	// control-plane benchmark). Required.
	RunUnit units.RunFunc
	// PinUnit records where an idle (paused or stopped) subtask of mode
	// incremental starts (units.Pin), so that a subtask created paused
	// starts at the source's position when this agent first takes it.
	// Optional: nil leaves idle subtasks alone (simulations).
	PinUnit func(ctx context.Context, cfg units.Config) (units.Position, error)
	// Getenv resolves ${VAR} password references; default os.LookupEnv.
	// It is called on every reconcile, so it may re-read a file.
	Getenv func(string) (string, bool)

	Logger  *slog.Logger     // default: discard
	Clock   reconciler.Clock // default: the wall clock
	Metrics *Metrics         // optional

	Resync         time.Duration // periodic reconcile; default reconciler.DefaultResync
	StatusInterval time.Duration // at most one status write per subtask per interval, plus stage changes
	FailoverPoll   time.Duration // the leader reacts to watches at once, and re-checks every 10 x FailoverPoll
	BackoffMin     time.Duration // first retry after a transient unit error (reconciler default)
	BackoffMax     time.Duration

	// Wake, if set, makes the agent reconcile at once whenever it
	// receives: something the desired state depends on changed outside
	// etcd (EnvFile.Watch: a rewritten env file).
	Wake <-chan struct{}
	// Ready, if set, is called each time the agent has registered (again
	// after a lost lease): `dmplan up` applies only after it.
	Ready func()
	// RelayDir holds the relays of the sources bound here whose
	// spec.relay is enabled, one directory per source (docs/relay.md).
	// Default DefaultRelayDir.
	RelayDir string
	// StoreOptions are passed to store.New.
	StoreOptions []store.Option
}

func (c *Config) fill() error {
	if c.Name == "" {
		return fmt.Errorf("agent name is required: %w", ErrConfig)
	}
	if c.Client == nil {
		return fmt.Errorf("agent %q: no etcd client: %w", c.Name, ErrConfig)
	}
	if c.RunUnit == nil {
		return fmt.Errorf("agent %q: no unit runner: %w", c.Name, ErrConfig)
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.LeaseTTL < time.Second {
		return fmt.Errorf("agent %q: lease TTL %s is under etcd's 1 s granularity: %w", c.Name, c.LeaseTTL, ErrConfig)
	}
	if c.RelayDir == "" {
		c.RelayDir = DefaultRelayDir
	}
	if c.Getenv == nil {
		c.Getenv = os.LookupEnv
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = reconciler.RealClock{}
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = DefaultStatusInterval
	}
	if c.FailoverPoll <= 0 {
		c.FailoverPoll = DefaultFailoverPoll
	}
	return nil
}
