// Command verify measures `dmplan verify` on sysbench tables beside
// `CHECKSUM TABLE … EXTENDED` run on both servers, through the product
// path: a `dmplan server`, a `dmplan agent` and `dmplan apply` replicate
// the tables (mode all), then the dmplan binary verifies them.
//
//	go run ./bench/verify                      # 8 tables x 100k rows, 3 interleaved runs
//	go run ./bench/verify -tables 2 -table-size 400000 -runs 1
//
// It prints seconds and rows/s of each method, verify's peak RSS, and then
// runs verify again while sysbench oltp_write_only writes at -write-rate
// transactions/s with sync running, counting any run that does not find
// the task equal (a false positive). It needs mariadbd,
// mariadb-install-db, mariadb and sysbench on PATH.
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/dmplan/dmplan/internal/mariadbtest"
	"github.com/dmplan/dmplan/units"
)

type flags struct {
	tables, tableSize, runs int
	writeRate, writeRuns    int
	parallel                int
	keep                    bool
}

func main() {
	var f flags
	flag.IntVar(&f.tables, "tables", 8, "sysbench tables")
	flag.IntVar(&f.tableSize, "table-size", 100000, "rows per table")
	flag.IntVar(&f.runs, "runs", 3, "interleaved runs of each method on the quiet servers")
	flag.IntVar(&f.parallel, "parallel", 4, "dmplan verify --parallel")
	flag.IntVar(&f.writeRate, "write-rate", 500, "sysbench oltp_write_only transactions/s while verifying under writes (0: skip)")
	flag.IntVar(&f.writeRuns, "write-runs", 3, "verify runs under writes")
	flag.BoolVar(&f.keep, "keep", false, "keep the servers' directories")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, f); err != nil {
		fmt.Fprintln(os.Stderr, "bench/verify:", err)
		os.Exit(1)
	}
}

type result struct {
	name    string
	seconds float64
	rssMB   float64
}

func run(ctx context.Context, f flags) error {
	dir, err := os.MkdirTemp("", "dmplan-bench-verify-")
	if err != nil {
		return err
	}
	if !f.keep {
		defer os.RemoveAll(dir)
	}
	srcOpts, err := mariadbtest.PrivateTmpdir(mariadbtest.Options{}, filepath.Join(dir, "source-tmp"))
	if err != nil {
		return err
	}
	dstOpts, err := mariadbtest.PrivateTmpdir(mariadbtest.Options{NoBinlog: true}, filepath.Join(dir, "target-tmp"))
	if err != nil {
		return err
	}
	src, err := mariadbtest.Start(ctx, filepath.Join(dir, "source"), srcOpts)
	if err != nil {
		return err
	}
	defer src.Stop()
	dst, err := mariadbtest.Start(ctx, filepath.Join(dir, "target"), dstOpts)
	if err != nil {
		return err
	}
	defer dst.Stop()
	srcDB, _ := src.DB("")
	dstDB, _ := dst.DB("")
	defer srcDB.Close()
	defer dstDB.Close()

	fmt.Printf("preparing sysbench data: %d tables x %d rows on 127.0.0.1:%d\n", f.tables, f.tableSize, src.Port)
	if _, err := srcDB.ExecContext(ctx, "CREATE DATABASE sbtest"); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, "sysbench", "oltp_read_write", "--db-driver=mysql",
		"--tables="+strconv.Itoa(f.tables), "--table-size="+strconv.Itoa(f.tableSize), "--threads=2",
		"--mysql-host=127.0.0.1", "--mysql-port="+strconv.Itoa(src.Port), "--mysql-user=root", "--mysql-db=sbtest",
		"prepare").CombinedOutput(); err != nil {
		return fmt.Errorf("sysbench prepare: %w\n%s", err, out)
	}

	bin := filepath.Join(dir, "dmplan")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/dmplan").CombinedOutput(); err != nil {
		return fmt.Errorf("build dmplan: %w\n%s", err, out)
	}
	port, err := mariadbtest.FreePort()
	if err != nil {
		return err
	}
	endpoints := fmt.Sprintf("127.0.0.1:%d", port)
	server := exec.CommandContext(ctx, bin, "server", "--data-dir", filepath.Join(dir, "etcd"), "--listen", endpoints,
		"--peer-listen", "127.0.0.1:0", "--log-level", "warn")
	if err := server.Start(); err != nil {
		return err
	}
	defer func() { server.Process.Signal(syscall.SIGTERM); server.Wait() }()
	agent := exec.CommandContext(ctx, bin, "agent", "--name", "a", "--endpoints", endpoints, "--log-level", "warn")
	agent.Stderr = os.Stderr
	if err := startWhenReady(ctx, agent, endpoints); err != nil {
		return err
	}
	defer func() { agent.Process.Signal(syscall.SIGTERM); agent.Wait() }()
	yaml := filepath.Join(dir, "yaml")
	os.MkdirAll(yaml, 0o755)
	os.WriteFile(filepath.Join(yaml, "bench.yaml"), []byte(fmt.Sprintf(`apiVersion: dmplan/v1
kind: Source
metadata: {name: src}
spec: {host: 127.0.0.1, port: %d, user: root, flavor: mariadb}
---
apiVersion: dmplan/v1
kind: Task
metadata: {name: bench}
spec:
  mode: all
  target: {host: 127.0.0.1, port: %d, user: root}
  sources: [src]
  tables: ["sbtest.*"]
`, src.Port, dst.Port)), 0o644)
	if err := retry(ctx, 30*time.Second, func() error {
		out, err := exec.CommandContext(ctx, bin, "apply", "-f", yaml, "--auto-approve", "--endpoints", endpoints).CombinedOutput()
		if err != nil {
			return fmt.Errorf("apply: %w\n%s", err, out)
		}
		return nil
	}); err != nil {
		return err
	}
	start := time.Now()
	if err := retry(ctx, 10*time.Minute, func() error {
		st, err := units.ReadSyncState(ctx, dstDB, "bench", "src")
		if err == nil && !st.Syncing {
			err = fmt.Errorf("not syncing yet")
		}
		return err
	}); err != nil {
		return err
	}
	fmt.Printf("replicated by dmplan in %.1fs; sync running\n", time.Since(start).Seconds())

	rows := float64(f.tables * f.tableSize)
	var list []string
	for i := 1; i <= f.tables; i++ {
		list = append(list, fmt.Sprintf("sbtest.sbtest%d", i))
	}
	checksum := "CHECKSUM TABLE " + strings.Join(list, ", ") + " EXTENDED"
	mariadb := func(s *mariadbtest.Server) *exec.Cmd {
		return exec.CommandContext(ctx, "mariadb", "--no-defaults", "-h127.0.0.1", "-P"+strconv.Itoa(s.Port), "-uroot", "-N", "-e", checksum)
	}
	verify := func(extra ...string) (*exec.Cmd, *strings.Builder) {
		var out strings.Builder
		cmd := exec.CommandContext(ctx, bin, append([]string{"verify", "bench", "--endpoints", endpoints, "-o", "json", "--log-level", cmp.Or(os.Getenv("VERIFY_LOG_LEVEL"), "warn"),
			"--parallel", strconv.Itoa(f.parallel)}, extra...)...)
		cmd.Stdout, cmd.Stderr = &out, os.Stderr
		return cmd, &out
	}
	var results []result
	for range f.runs {
		// CHECKSUM TABLE on the source, then on the target, as a person runs it.
		t0 := time.Now()
		var outs [2][]byte
		for i, s := range []*mariadbtest.Server{src, dst} {
			if outs[i], err = mariadb(s).Output(); err != nil {
				return fmt.Errorf("checksum table: %w", err)
			}
		}
		results = append(results, result{name: "CHECKSUM TABLE EXTENDED, source then target", seconds: time.Since(t0).Seconds()})
		if string(outs[0]) != string(outs[1]) {
			return fmt.Errorf("CHECKSUM TABLE differs between source and target:\n%s\n%s", outs[0], outs[1])
		}
		// Both at once.
		t0 = time.Now()
		a, b := mariadb(src), mariadb(dst)
		if err := a.Start(); err != nil {
			return err
		}
		if err := b.Run(); err != nil {
			return err
		}
		if err := a.Wait(); err != nil {
			return err
		}
		results = append(results, result{name: "CHECKSUM TABLE EXTENDED, both servers at once", seconds: time.Since(t0).Seconds()})
		cmd, out := verify()
		t0 = time.Now()
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("dmplan verify: %w\n%s", err, out)
		}
		results = append(results, result{name: fmt.Sprintf("dmplan verify (--parallel %d)", f.parallel), seconds: time.Since(t0).Seconds(),
			rssMB: maxRSS(cmd.ProcessState)})
	}
	fmt.Printf("\n%d rows (%d tables x %d), quiet servers, %d interleaved runs\n", int(rows), f.tables, f.tableSize, f.runs)
	fmt.Printf("%-48s %8s %10s %9s\n", "method", "seconds", "rows/s", "peak RSS")
	for _, r := range results {
		fmt.Printf("%-48s %8.2f %10.0f %7.0fMB\n", r.name, r.seconds, rows/r.seconds, r.rssMB)
	}
	fmt.Printf("\nmedians\n")
	var names []string
	for _, r := range results {
		if !slices.Contains(names, r.name) {
			names = append(names, r.name)
		}
	}
	base := median(results, names[0])
	for _, n := range names {
		m := median(results, n)
		fmt.Printf("%-48s %8.2f %10.0f %8.2fx\n", n, m.seconds, rows/m.seconds, base.seconds/m.seconds)
	}

	if f.writeRate <= 0 {
		return nil
	}
	fmt.Printf("\nverify under sysbench oltp_write_only at %d tx/s with sync running\n", f.writeRate)
	bench := exec.CommandContext(ctx, "sysbench", "oltp_write_only", "--db-driver=mysql",
		"--tables="+strconv.Itoa(f.tables), "--table-size="+strconv.Itoa(f.tableSize), "--threads=4",
		"--rate="+strconv.Itoa(f.writeRate), "--time=0", "--report-interval=0",
		"--mysql-host=127.0.0.1", "--mysql-port="+strconv.Itoa(src.Port), "--mysql-user=root", "--mysql-db=sbtest", "run")
	if err := bench.Start(); err != nil {
		return err
	}
	defer func() { bench.Process.Signal(syscall.SIGTERM); bench.Wait() }()
	time.Sleep(3 * time.Second) // let the writes reach a steady rate
	falsePositives := 0
	for i := range f.writeRuns {
		cmd, out := verify()
		t0 := time.Now()
		err := cmd.Run()
		code := 0
		if err != nil {
			code = cmd.ProcessState.ExitCode()
		}
		if code == 2 {
			falsePositives++
		}
		rechecked := strings.Count(out.String(), `"rechecked": `) - strings.Count(out.String(), `"rechecked": 0`)
		fmt.Printf("run %d: exit %d in %.2fs (%.0f rows/s), %d tables had chunks re-checked\n", i+1, code, time.Since(t0).Seconds(),
			rows/time.Since(t0).Seconds(), rechecked)
		if code != 0 {
			fmt.Println(out.String())
		}
	}
	fmt.Printf("false positives (exit 2): %d of %d runs\n", falsePositives, f.writeRuns)
	return nil
}

// startWhenReady starts cmd once etcd accepts connections at addr.
func startWhenReady(ctx context.Context, cmd *exec.Cmd, addr string) error {
	if err := retry(ctx, 30*time.Second, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		return fmt.Errorf("dmplan server at %s: %w", addr, err)
	}
	return cmd.Start()
}

func retry(ctx context.Context, d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func median(rs []result, name string) result {
	var sel []result
	for _, r := range rs {
		if r.name == name {
			sel = append(sel, r)
		}
	}
	slices.SortFunc(sel, func(a, b result) int { return cmp.Compare(a.seconds, b.seconds) })
	return sel[len(sel)/2]
}

func maxRSS(ps *os.ProcessState) float64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return float64(ru.Maxrss) / 1024
	}
	return 0
}
