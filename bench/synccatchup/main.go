// Command synccatchup measures dmplan's sync unit beside native MariaDB
// replication, on the same servers and the same binlog:
//
//  1. catch-up, in rounds: sysbench oltp_write_only builds a backlog on the
//     source while every reader is stopped; then, one at a time and in a
//     rotating order, a native replica with the default serial applier, a
//     native replica with slave_parallel_threads=4 and
//     slave_parallel_mode=optimistic, and dmplan's sync unit (in a child
//     process, for its peak RSS) apply it. Each figure is row changes per
//     second from start to the moment marker rows written last are visible;
//     every copy is then checked with CHECKSUM TABLE. The CPU seconds the
//     follower, the source and dmplan spent are printed too: on a shared
//     machine they vary much less than wall times. Medians are compared.
//
//  2. steady state: sysbench at a fixed rate with every reader running; a
//     heartbeat row updated on the source every 20 ms is read on each copy
//     every 20 ms, giving each one's lag (p50, p99, max).
//
// Usage:
//
//	go run ./bench/synccatchup                            # spec defaults: 8 workers, batch 100
//	go run ./bench/synccatchup -workers 4 -batch 400 -events 50000 -rounds 5
//	go run ./bench/synccatchup -validate none,fast,full -steady 0   # validation's cost
//	go run ./bench/synccatchup -relay -steady 0                      # the relay's cost
//
// With -relay, dmplan's sync unit also follows through a relay
// (docs/relay.md), into a target of its own, in the same rotation. The
// relay runs as an agent runs it: all along, in this process, following
// the source while the rounds build their backlogs and the sync units are
// stopped; the child's sync unit reads the relay's files. The relay's
// catch-up is compared with the direct one's, round by round and as
// medians. -relay-with-sync starts the relay in the child instead, with
// the sync unit, each round (the relay fetches the backlog while the sync
// unit reads it: the worst case, a relay started with a backlog behind).
//
// It needs mariadbd, mariadb-install-db and sysbench on PATH.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dmplan/dmplan/internal/mariadbtest"
	"github.com/dmplan/dmplan/units"
)

// quiet is a logger for go-mysql that drops everything.
func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

type flags struct {
	tables, tableSize int
	events, threads   int
	workers, batch    int
	steady            time.Duration
	rate              int
	rounds            int
	keep              bool
	validate          string
	relay, relayChild bool
}

func main() {
	var f flags
	flag.IntVar(&f.tables, "tables", 4, "sysbench tables")
	flag.IntVar(&f.tableSize, "table-size", 50000, "rows per table")
	flag.IntVar(&f.events, "events", 25000, "sysbench oltp_write_only transactions in the backlog (4 row changes each)")
	flag.IntVar(&f.threads, "threads", 4, "sysbench threads building the backlog")
	flag.IntVar(&f.workers, "workers", 8, "dmplan sync workers")
	flag.IntVar(&f.batch, "batch", 100, "dmplan changes per target transaction")
	flag.DurationVar(&f.steady, "steady", 30*time.Second, "steady-state phase length (0: skip)")
	flag.IntVar(&f.rate, "rate", 1000, "steady-state sysbench transactions per second")
	flag.IntVar(&f.rounds, "rounds", 3, "catch-up rounds (medians are compared)")
	flag.BoolVar(&f.keep, "keep", false, "keep the servers' directories")
	flag.StringVar(&f.validate, "validate", "none", "comma-separated validation modes dmplan runs with (none, fast, full), each into its own target")
	flag.BoolVar(&f.relay, "relay", false, "also run dmplan's sync unit through a relay, into its own target")
	flag.BoolVar(&f.relayChild, "relay-with-sync", false, "with -relay: start the relay with the sync unit each round, not all along")
	child := flag.Bool("child", false, "internal: run the sync unit from the config in "+childEnv)
	flag.Parse()
	if *child {
		if err := runChild(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, f); err != nil {
		fmt.Fprintln(os.Stderr, "synccatchup:", err)
		os.Exit(1)
	}
}

// copyOf is one server that follows the source: a native replica or
// dmplan's target.
type copyOf struct {
	name string
	srv  *mariadbtest.Server
	db   *sql.DB
	cfg  *units.Config // dmplan's copies: the sync unit's config
	// relay is the relay directory of a copy that reads through a relay;
	// stopRelay stops the relay run here (not in the child).
	relay     string
	stopRelay func()
}

func run(ctx context.Context, f flags) error {
	dir, err := os.MkdirTemp("", "synccatchup-")
	if err != nil {
		return err
	}
	if !f.keep {
		defer os.RemoveAll(dir)
	}
	fmt.Printf("servers in %s; sysbench %d tables x %d rows; backlog %d transactions\n", dir, f.tables, f.tableSize, f.events)
	modes := strings.Split(f.validate, ",")
	for _, m := range modes {
		if m != "none" && m != "fast" && m != "full" {
			return fmt.Errorf("-validate: %q is not a validation mode (none, fast, full)", m)
		}
	}
	extra := 0
	if f.relay {
		extra = 1
	}
	servers, err := startServers(ctx, dir, 3+len(modes)+extra)
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range servers {
			s.Stop()
		}
	}()
	src := servers[0]
	srcDB, err := src.DB("")
	if err != nil {
		return err
	}
	defer srcDB.Close()
	copies := []*copyOf{
		{name: "replica (serial)", srv: servers[1]},
		{name: "replica (parallel 4, optimistic)", srv: servers[2]},
	}
	for i, m := range modes {
		name := "dmplan sync"
		if len(modes) > 1 || m != "none" {
			name += ", validate " + m
		}
		copies = append(copies, &copyOf{name: name, srv: servers[3+i]})
	}
	if f.relay {
		copies = append(copies, &copyOf{name: "dmplan sync, relay", srv: servers[3+len(modes)], relay: filepath.Join(dir, "relay")})
	}
	for _, c := range copies {
		if c.db, err = c.srv.DB(""); err != nil {
			return err
		}
		defer c.db.Close()
	}

	// The data set, on every server, and the position it corresponds to.
	if err := prepare(ctx, f, src, srcDB, copies); err != nil {
		return err
	}
	start, err := masterPos(ctx, srcDB)
	if err != nil {
		return err
	}
	fmt.Printf("snapshot at %s:%d (gtid %s)\n", start.File, start.Pos, start.GTID)
	for i, c := range copies[:2] {
		if err := setupReplica(ctx, c.db, src.Port, start.GTID, i == 1); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	defer func() {
		for _, c := range copies {
			if c.stopRelay != nil {
				c.stopRelay()
			}
		}
	}()
	for i, c := range copies[2:] {
		c.cfg = &units.Config{Task: "bench", Source: "src", Mode: units.ModeIncremental, Start: start,
			From:   units.Endpoint{Host: "127.0.0.1", Port: src.Port, User: "root"},
			To:     units.Endpoint{Host: "127.0.0.1", Port: c.srv.Port, User: "root"},
			Tables: []string{"sbtest.*", "bench.*"}, SyncWorkers: f.workers, SyncBatch: f.batch}
		if i < len(modes) && modes[i] != "none" {
			c.cfg.Validate = modes[i]
		}
		if c.relay != "" && !f.relayChild {
			c.stopRelay = runRelay(ctx, c.relay, *c.cfg)
		}
	}

	// Rounds: a backlog with every reader stopped, then each copy catches
	// up alone (in a rotating order); medians are compared, the machine
	// may be shared.
	results := make([][]catchUp, len(copies))
	for round := 1; round <= f.rounds; round++ {
		t0 := time.Now()
		if err := sysbench(ctx, src.Port, f, "run", "--events="+fmt.Sprint(f.events), "--time=0", "--threads="+fmt.Sprint(f.threads)); err != nil {
			return err
		}
		if _, err := srcDB.ExecContext(ctx, fmt.Sprintf("INSERT INTO bench.marker SELECT %d + seq FROM bench.seq_1_to_%d", round*1000, markers)); err != nil {
			return err
		}
		end, err := masterPos(ctx, srcDB)
		if err != nil {
			return err
		}
		changes, err := countRowChanges(ctx, src.Port, start, end)
		if err != nil {
			return err
		}
		start = end
		fmt.Printf("round %d: backlog of %d row changes in %d transactions, written in %.1f s\n", round, changes, f.events, time.Since(t0).Seconds())
		for j := range copies {
			i := (j + round - 1) % len(copies)
			c := copies[i]
			r := catchUp{changes: changes}
			cpuCopy, cpuSrc := cpuSeconds(c.srv), cpuSeconds(src)
			if i < 2 {
				r.secs, err = catchUpReplica(ctx, c.db, round)
			} else {
				r, err = catchUpDmplan(ctx, *c.cfg, c.relay, c.stopRelay == nil, c.db, round, r)
			}
			r.cpuCopy, r.cpuSrc = cpuSeconds(c.srv)-cpuCopy, cpuSeconds(src)-cpuSrc
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			if r.same, err = checksumsEqual(ctx, srcDB, c.db, f.tables); err != nil {
				return err
			}
			results[i] = append(results[i], r)
		}
	}
	fmt.Printf("\ncatch-up, median of %d rounds (each round's rows/s in brackets)\n", f.rounds)
	fmt.Printf("%-34s %9s %12s %10s %9s %9s %9s %s\n", "", "seconds", "rows/s", "peak RSS", "cpu:copy", "source", "dmplan", "checksums")
	for i, c := range copies {
		fmt.Println(summarize(c.name, results[i]))
	}
	if len(modes) > 1 {
		fmt.Println()
		compareModes(copies[2:2+len(modes)], results[2:2+len(modes)])
	}
	if f.relay {
		fmt.Println()
		compareRelay(copies[2], copies[len(copies)-1], results[2], results[len(copies)-1])
	}
	if f.steady > 0 {
		fmt.Println()
		if err := steadyState(ctx, f, *copies[2].cfg, src.Port, srcDB, copies[:3]); err != nil {
			return err
		}
	}
	return nil
}

// startServers starts the source and n followers at once.
func startServers(ctx context.Context, dir string, n int) ([]*mariadbtest.Server, error) {
	opts := []mariadbtest.Options{{ServerID: 1}}
	for i := range n {
		opts = append(opts, mariadbtest.Options{ServerID: uint32(2 + i), NoBinlog: true})
	}
	out := make([]*mariadbtest.Server, len(opts))
	errs := make(chan error, len(opts))
	for i, o := range opts {
		go func() {
			d := filepath.Join(dir, fmt.Sprint("s", i))
			o, err := mariadbtest.PrivateTmpdir(o, filepath.Join(d, "tmp"))
			if err != nil {
				errs <- err
				return
			}
			s, err := mariadbtest.Start(ctx, d, o)
			out[i] = s
			errs <- err
		}()
	}
	var first error
	for range opts {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		for _, s := range out {
			if s != nil {
				s.Stop()
			}
		}
		return nil, first
	}
	return out, nil
}

const (
	childEnv    = "DMPLAN_SYNCCATCHUP_CFG"
	relayEnv    = "DMPLAN_SYNCCATCHUP_RELAY"     // the child's relay directory: it reads through it
	relayRunEnv = "DMPLAN_SYNCCATCHUP_RUN_RELAY" // "1": the child runs the relay too
)

// runRelay runs the source's relay in dir until stop is called, as an
// agent does for the source of the subtask cfg.
func runRelay(ctx context.Context, dir string, cfg units.Config) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	rcfg := units.RelayConfig{Source: cfg.Source, From: cfg.From, Retain: time.Hour,
		Subtasks: func() []units.Config { return []units.Config{cfg} }}
	go func() { defer close(done); units.NewRelay(dir).Run(ctx, rcfg, quiet()) }()
	return func() { cancel(); <-done }
}

// runChild runs the sync unit until SIGTERM, printing its progress as
// JSON lines.
func runChild() error {
	var cfg units.Config
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &cfg); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if dir := os.Getenv("DMPLAN_SYNCCATCHUP_PROFILE"); dir != "" {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("cpu-%d.pprof", os.Getpid())))
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer func() {
			pprof.StopCPUProfile()
			h, _ := os.Create(filepath.Join(dir, fmt.Sprintf("heap-%d.pprof", os.Getpid())))
			pprof.Lookup("allocs").WriteTo(h, 0)
			h.Close()
		}()
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()}))
	var relayDone chan struct{}
	if dir := os.Getenv(relayEnv); dir != "" {
		rel := units.NewRelay(dir)
		if os.Getenv(relayRunEnv) == "1" {
			rcfg := units.RelayConfig{Source: cfg.Source, From: cfg.From, Retain: time.Hour,
				Subtasks: func() []units.Config { return []units.Config{cfg} }}
			relayDone = make(chan struct{})
			go func() { defer close(relayDone); rel.Run(ctx, rcfg, log) }()
		}
		cfg.Relay = rel
	}
	enc := json.NewEncoder(os.Stdout)
	var mu sync.Mutex
	err := units.Run(ctx, cfg, units.ReporterFunc(func(p units.Progress) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(childReport{p.Lag, p.RowsDone, p.Err, p.Validation})
	}), log)
	if relayDone != nil {
		<-relayDone
	}
	if os.Getenv("DMPLAN_SYNCCATCHUP_PROFILE") != "" {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		st, _ := os.ReadFile("/proc/self/status")
		fmt.Fprintf(os.Stderr, "child memory: Sys %d MB, HeapSys %d MB, HeapInuse %d MB, StackSys %d MB, NumGC %d\n%s\n",
			ms.Sys>>20, ms.HeapSys>>20, ms.HeapInuse>>20, ms.StackSys>>20, ms.NumGC, grepLines(string(st), "Vm", "Rss"))
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// childReport is a line of the child's output.
type childReport struct {
	Lag        time.Duration
	Rows       int64
	Err        string
	Validation *units.Validation
}

// logLevel: the child logs errors only, everything when profiling.
func logLevel() slog.Level {
	if os.Getenv("DMPLAN_SYNCCATCHUP_PROFILE") != "" {
		return slog.LevelInfo
	}
	return slog.LevelError
}

func grepLines(s string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}
