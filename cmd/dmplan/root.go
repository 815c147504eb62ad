package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sys/unix"
)

// app holds what every command shares: the streams, the environment and
// the global flags. It is built anew for each run; there is no global state.
type app struct {
	streams
	lookupEnv func(string) (string, bool)
	exitCode  int

	endpoints   string
	dialTimeout time.Duration
	tls         tlsFlags
	etcdUser    string
	noColor     bool
	logFormat   string
	logLevel    string

	// shared is the etcd client that the steps of one command share
	// (sharedEtcd): plan and apply -f read the state and write the plan
	// over one connection. run closes it.
	shared *clientv3.Client
}

type tlsFlags struct {
	caFile, certFile, keyFile string
	insecureSkipVerify        bool
}

const exitCodesHelp = `
Exit codes:
  0  success
  1  error (the message says what went wrong)`

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "dmplan",
		Short: "Declarative, GitOps-style data migration for MySQL/MariaDB",
		Long: `dmplan keeps MySQL/MariaDB data migrations equal to Source and Task YAML kept in git.

  dmplan validate -f DIR   check the YAML offline
  dmplan plan -f DIR       show what would change in etcd
  dmplan apply -f DIR      make it so (atomically)
  dmplan agent --name N    run the units bound to this agent
  dmplan status            desired against observed state
  dmplan verify TASK       compare the target with the sources, while sync runs
  dmplan server            a single-node embedded etcd for one machine
` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	defaultEndpoints := "127.0.0.1:2379"
	if v, ok := a.lookupEnv("DMPLAN_ENDPOINTS"); ok && v != "" {
		defaultEndpoints = v
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.endpoints, "endpoints", defaultEndpoints, "etcd endpoints, comma-separated (env DMPLAN_ENDPOINTS)")
	pf.DurationVar(&a.dialTimeout, "dial-timeout", 5*time.Second, "etcd dial timeout")
	pf.StringVar(&a.tls.caFile, "cacert", "", "verify etcd's certificate with this CA bundle")
	pf.StringVar(&a.tls.certFile, "cert", "", "client TLS certificate for etcd")
	pf.StringVar(&a.tls.keyFile, "key", "", "client TLS key for etcd")
	pf.BoolVar(&a.tls.insecureSkipVerify, "insecure-skip-tls-verify", false, "skip verification of etcd's certificate (testing only)")
	pf.StringVar(&a.etcdUser, "user", "", "etcd user name; the password is read from env DMPLAN_ETCD_PASSWORD")
	pf.BoolVar(&a.noColor, "no-color", false, "never colour output (also env NO_COLOR); colour is only used on a terminal")
	pf.StringVar(&a.logFormat, "log-format", "", "log format: text or json (default: text on a terminal, json otherwise)")
	pf.StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn, error")

	root.AddCommand(
		a.serverCommand(),
		a.validateCommand(),
		a.planCommand(),
		a.applyCommand(),
		a.showCommand(),
		a.exportCommand(),
		a.stateCommand(),
		a.statusCommand(),
		a.verifyCommand(),
		a.versionCommand(),
		a.memberCommand(),
	)
	for _, c := range a.extraCommands() {
		root.AddCommand(c)
	}
	return root
}

// color reports whether w should get ANSI colours.
func (a *app) color(w io.Writer) bool {
	if a.noColor {
		return false
	}
	if v, ok := a.lookupEnv("NO_COLOR"); ok && v != "" {
		return false
	}
	return isTerminal(w)
}

// isTerminal reports whether f is a terminal (not merely a character
// device such as /dev/null).
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(file.Fd()), unix.TCGETS)
	return err == nil
}

// logger builds the process's logger on stderr.
func (a *app) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", a.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	format := a.logFormat
	if format == "" {
		format = "json"
		if isTerminal(a.err) {
			format = "text"
		}
	}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(a.err, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(a.err, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", a.logFormat)
}

func (a *app) getenv(name string) (string, bool) { return a.lookupEnv(name) }
