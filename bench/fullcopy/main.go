// Command fullcopy measures a full copy of sysbench tables between two
// local MariaDB servers as a user gets it: `dmplan server`, one `dmplan
// agent`, `dmplan apply` of a mode-full Task, then `dmplan status TASK
// --wait -o json` as a pipeline runs them, timed until that returns the
// status showing it finished; beside `mariadb-dump --single-transaction |
// mariadb`, mydumper + myloader and dmplan's DumpLoad called in-process, on
// the same servers and the same data, interleaved, with the target's dirty
// pages flushed before each; and the target's ceiling, server-side LOAD
// DATA INFILE of the same rows from files (ceiling.go). The servers run
// with Debian's configuration
// (binary log ROW on the source, nothing tuned) unless -tuned. It prints
// seconds, rows/s and peak RSS of each, and the ratio to mariadb-dump.
//
//	go run ./bench/fullcopy                     # 8 tables x 100k rows, 3 runs
//	go run ./bench/fullcopy -tables 4 -table-size 50000 -mydumper=false
//	DMPLAN_BENCH_AGENT_LOG=debug DMPLAN_BENCH_AGENT_CPUPROFILE=/tmp/prof go run ./bench/fullcopy -keep
//
// It needs go, mariadbd, mariadb-install-db, mariadb, mariadb-dump and
// sysbench (and mydumper/myloader for -mydumper) on PATH.
package main

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dmplan/dmplan/internal/mariadbtest"
	"github.com/dmplan/dmplan/units"
	_ "github.com/go-sql-driver/mysql"
)

type flags struct {
	tables, tableSize      int
	threads                int
	readers, loaders       int
	chunkRows              int
	method                 string
	mydumper, targetBinlog bool
	dump                   bool
	keep                   bool
	tuned                  bool
	product, inProcess     bool
	ceiling                bool
	extra                  []string
	runs                   int
}

func main() {
	var f flags
	flag.IntVar(&f.tables, "tables", 8, "sysbench tables")
	flag.IntVar(&f.tableSize, "table-size", 100000, "rows per table")
	flag.IntVar(&f.threads, "threads", 4, "dmplan DumpThreads and mydumper/myloader threads")
	flag.IntVar(&f.readers, "readers", 0, "dmplan snapshot connections (0: default)")
	flag.IntVar(&f.loaders, "loaders", 0, "dmplan loader connections (0: default)")
	flag.IntVar(&f.chunkRows, "chunk-rows", 0, "dmplan rows per chunk (0: default)")
	flag.StringVar(&f.method, "method", "", "dmplan load method: load-data or insert (default: load-data when allowed)")
	flag.BoolVar(&f.dump, "dump", true, "measure mariadb-dump | mariadb (-dump=false: for CPU profiles of the other methods; no ratios)")
	flag.BoolVar(&f.mydumper, "mydumper", true, "also measure mydumper + myloader")
	flag.BoolVar(&f.product, "product", true, "measure the product path: dmplan server + agent + apply until status shows finished")
	flag.BoolVar(&f.inProcess, "in-process", true, "measure units.DumpLoad called in a process of its own")
	flag.BoolVar(&f.ceiling, "ceiling", true, "measure the target's ceiling: server-side LOAD DATA INFILE of the same rows from files written before the runs, on -threads connections")
	flag.BoolVar(&f.tuned, "tuned", false, "run the servers with the tests' tuning (internal/mariadbtest: flush_log_at_trx_commit=2, 256 MB redo, no binlog on the target) instead of Debian's defaults")
	flag.BoolVar(&f.targetBinlog, "target-binlog", false, "run the target with its binary log on")
	flag.IntVar(&f.runs, "runs", 3, "measure every method this many times, interleaved (the machine may be shared: medians are compared)")
	flag.BoolVar(&f.keep, "keep", false, "keep the servers' directories")
	flag.Func("server-extra", "extra [mariadbd] line for both servers, e.g. innodb_log_file_size=1G (repeatable)", func(v string) error {
		f.extra = append(f.extra, v)
		return nil
	})
	child := flag.Bool("child", false, "internal: run one DumpLoad from the config in DMPLAN_BENCH_CFG")
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
		fmt.Fprintln(os.Stderr, "fullcopy:", err)
		os.Exit(1)
	}
}

// result is one measured method.
type result struct {
	name      string
	seconds   float64
	rssMB     float64
	targetCPU float64 // CPU seconds the target server spent
	sourceCPU float64 // CPU seconds the source server spent
	firstRow  float64 // product path: apply -> first chunk committed
	run       int
	note      string
}

func run(ctx context.Context, f flags) error {
	dir, err := os.MkdirTemp("", "dmplan-fullcopy-")
	if err != nil {
		return err
	}
	if !f.keep {
		defer os.RemoveAll(dir)
	}
	srcOpts, err := mariadbtest.PrivateTmpdir(mariadbtest.Options{Extra: f.extra, DebianDefaults: !f.tuned}, filepath.Join(dir, "source-tmp"))
	if err != nil {
		return err
	}
	dstOpts, err := mariadbtest.PrivateTmpdir(mariadbtest.Options{NoBinlog: !f.targetBinlog, Extra: f.extra, DebianDefaults: !f.tuned},
		filepath.Join(dir, "target-tmp"))
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
	start := time.Now()
	if out, err := exec.CommandContext(ctx, "sysbench", "oltp_read_write", "--db-driver=mysql",
		"--tables="+strconv.Itoa(f.tables), "--table-size="+strconv.Itoa(f.tableSize), "--threads=2",
		"--mysql-host=127.0.0.1", "--mysql-port="+strconv.Itoa(src.Port), "--mysql-user=root", "--mysql-db=sbtest",
		"prepare").CombinedOutput(); err != nil {
		return fmt.Errorf("sysbench prepare: %w\n%s", err, out)
	}
	fmt.Printf("prepared in %.1fs\n", time.Since(start).Seconds())
	// BACKUP STAGE BLOCK_COMMIT (dmplan's snapshot) fsyncs the binary log:
	// the prepare's 300 MB, still in the page cache, cost the first run's
	// snapshot 0.3-0.5 s, a source at rest none (docs/units.md, Figures).
	if err := syncBinlogs(filepath.Join(dir, "source", "data")); err != nil {
		return err
	}
	rows := int64(f.tables * f.tableSize)
	want, err := checksums(ctx, srcDB, "sbtest", f.tables)
	if err != nil {
		return err
	}

	var results []result
	check := func(r result, schema string) error {
		got, err := checksums(ctx, dstDB, schema, f.tables)
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("%s: target checksums %v differ from the source's %v", r.name, got, want)
		}
		results = append(results, r)
		_, err = dstDB.ExecContext(ctx, "DROP DATABASE "+schema)
		return err
	}

	targetPID, sourcePID := serverPID(dst), serverPID(src)
	run := 0
	measure := func(name string, schema string, copy func() (result, error)) error {
		if err := settle(ctx, dstDB); err != nil {
			return err
		}
		cpu0, scpu0 := procCPU(targetPID), procCPU(sourcePID)
		r, err := copy()
		if err != nil {
			return err
		}
		r.targetCPU, r.sourceCPU = procCPU(targetPID)-cpu0, procCPU(sourcePID)-scpu0
		r.run = run
		fmt.Printf("  %-44s %6.2fs %s\n", r.name, r.seconds, r.note)
		return check(r, schema)
	}
	var bin string
	if f.product {
		if bin, err = buildDmplan(ctx, dir); err != nil {
			return err
		}
		for _, db := range []*sql.DB{srcDB, dstDB} {
			if err := createBenchUser(ctx, db); err != nil {
				return err
			}
		}
	}
	for _, s := range []struct {
		name string
		db   *sql.DB
	}{{"source", srcDB}, {"target", dstDB}} {
		var bp, redo, flush, logBin, format string
		if err := s.db.QueryRowContext(ctx, `SELECT @@innodb_buffer_pool_size >> 20, @@innodb_log_file_size >> 20,
			@@innodb_flush_log_at_trx_commit, @@log_bin, @@binlog_format`).Scan(&bp, &redo, &flush, &logBin, &format); err != nil {
			return err
		}
		fmt.Printf("%s: buffer pool %s MB, redo log %s MB, innodb_flush_log_at_trx_commit=%s, log_bin=%s (%s)\n", s.name, bp, redo, flush, logBin, format)
	}
	var ceilingFiles string
	if f.ceiling {
		if ceilingFiles, err = writeCeilingFiles(ctx, srcDB, dir, f.tables); err != nil {
			return err
		}
	}
	for ; run < f.runs; run++ {
		fmt.Printf("run %d of %d (load average %s)\n", run+1, f.runs, loadAvg())
		if f.dump {
			if err := measure("dump", "sbtest_dump", func() (result, error) { return mariadbDump(ctx, src, dst, dstDB) }); err != nil {
				return err
			}
		}
		if f.mydumper {
			if err := measure("mydumper", "sbtest_mydumper", func() (result, error) { return mydumper(ctx, f, src, dst, dir, run) }); err != nil {
				return err
			}
		}
		if f.product {
			if err := measure("product", "sbtest_product", func() (result, error) {
				r, _, err := productCopy(ctx, f, bin, src, dst, dstDB, dir, run)
				return r, err
			}); err != nil {
				return err
			}
			if _, err := dstDB.ExecContext(ctx, "DROP DATABASE dmplan_meta"); err != nil {
				return err
			}
		}
		if f.ceiling {
			if err := measure("ceiling", "sbtest_ceiling", func() (result, error) { return ceilingLoad(ctx, f, srcDB, dstDB, ceilingFiles) }); err != nil {
				return err
			}
		}
		if f.inProcess {
			if err := measure("dmplan", "sbtest_dmplan", func() (result, error) { return dmplanCopy(ctx, f, src, dst) }); err != nil {
				return err
			}
			if _, err := dstDB.ExecContext(ctx, "DROP DATABASE dmplan_meta"); err != nil {
				return err
			}
		}
	}
	fmt.Printf("\nfull copy of %d rows (%d tables x %d), checksums equal to the source's; %d interleaved runs\n", rows, f.tables, f.tableSize, f.runs)
	fmt.Printf("%-44s %8s %10s %9s %8s %8s %s\n", "method", "seconds", "rows/s", "peak RSS", "tgt CPU", "src CPU", "")
	for _, r := range results {
		fmt.Printf("%-44s %8.2f %10.0f %7.0fMB %7.1fs %7.1fs  %s\n", r.name, r.seconds, float64(rows)/r.seconds, r.rssMB, r.targetCPU, r.sourceCPU, r.note)
	}
	fmt.Printf("\nmedians (load average now %s) %-13s %8s %10s %9s %9s %9s\n", loadAvg(), "", "seconds", "rows/s", "vs dump", "time/dump", "tgt CPU")
	base := median(results, results[0].name)
	var names []string
	for _, r := range results {
		if !slices.Contains(names, r.name) {
			names = append(names, r.name)
		}
	}
	for _, n := range names {
		m := median(results, n)
		fmt.Printf("%-52s %8.2f %10.0f %8.2fx %9.2f %8.1fs\n", n, m.seconds, float64(rows)/m.seconds, base.seconds/m.seconds, m.seconds/base.seconds, m.targetCPU)
	}
	// Per run, the product path against its peers of the same run.
	if f.product {
		fmt.Printf("\nper run, product path time / peer time:\n")
		for run := range f.runs {
			by := map[string]result{}
			for _, r := range results {
				if r.run == run {
					by[r.name] = r
				}
			}
			var p result
			for n, r := range by {
				if strings.HasPrefix(n, "dmplan apply") {
					p = r
				}
			}
			line := fmt.Sprintf("run %d: %.2fs, %.0f rows/s, first row after %.2fs", run+1, p.seconds, float64(rows)/p.seconds, p.firstRow)
			for _, n := range names {
				if r, ok := by[n]; ok && (strings.HasPrefix(n, "mariadb-dump") || strings.HasPrefix(n, "mydumper") || strings.HasPrefix(n, "target ceiling")) {
					line += fmt.Sprintf("; %.2fx %s", p.seconds/r.seconds, strings.Fields(n)[0])
				}
			}
			fmt.Println(line)
		}
	}
	return nil
}

// syncBinlogs fsyncs the source's binary logs in datadir.
func syncBinlogs(datadir string) error {
	files, err := filepath.Glob(filepath.Join(datadir, "mysql-bin.*"))
	if err != nil {
		return err
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("sync %s: %w", name, err)
		}
	}
	return nil
}

// settle waits until the target has flushed its dirty pages, so that a
// method does not pay for the writes of the one before.
func settle(ctx context.Context, db *sql.DB) error {
	var pct string
	if err := db.QueryRowContext(ctx, "SELECT @@innodb_max_dirty_pages_pct").Scan(&pct); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, "SET GLOBAL innodb_max_dirty_pages_pct = 0"); err != nil {
		return err
	}
	defer db.ExecContext(context.Background(), "SET GLOBAL innodb_max_dirty_pages_pct = "+pct)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var name string
		var dirty int
		if err := db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'").Scan(&name, &dirty); err != nil {
			return err
		}
		if dirty < 100 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second)
	return nil
}

// loadAvg is the machine's 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// median is the run of method name with the median time.
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

// serverPID reads a test server's pid file.
func serverPID(s *mariadbtest.Server) int {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "mariadbd.pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// procCPU is a process's user+system CPU seconds so far.
func procCPU(pid int) float64 {
	u := procUsage(pid)
	return u.user + u.sys
}

// usage is what /proc/PID/stat says a process has used so far.
type usage struct {
	user, sys float64 // CPU seconds
	minflt    int64   // minor page faults (first touches of fresh memory, among others)
}

func (u usage) sub(v usage) usage {
	return usage{user: u.user - v.user, sys: u.sys - v.sys, minflt: u.minflt - v.minflt}
}

func procUsage(pid int) usage {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return usage{}
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	mf, _ := strconv.ParseInt(f[7], 10, 64)
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return usage{user: ut / 100, sys: st / 100, minflt: mf}
}

// checksums is CHECKSUM TABLE of every sbtest table, in order.
func checksums(ctx context.Context, db *sql.DB, schema string, n int) ([]int64, error) {
	out := make([]int64, n)
	for i := range n {
		var name string
		if err := db.QueryRowContext(ctx, fmt.Sprintf("CHECKSUM TABLE `%s`.sbtest%d", schema, i+1)).Scan(&name, &out[i]); err != nil {
			return nil, fmt.Errorf("checksum %s.sbtest%d: %w", schema, i+1, err)
		}
	}
	return out, nil
}

func cpuSeconds(ps *os.ProcessState) float64 { return (ps.UserTime() + ps.SystemTime()).Seconds() }

func maxRSS(ps *os.ProcessState) float64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return float64(ru.Maxrss) / 1024
	}
	return 0
}

func mariadbDump(ctx context.Context, src, dst *mariadbtest.Server, dstDB *sql.DB) (result, error) {
	if _, err := dstDB.ExecContext(ctx, "CREATE DATABASE sbtest_dump"); err != nil {
		return result{}, err
	}
	dump := exec.CommandContext(ctx, "mariadb-dump", "--no-defaults", "-h127.0.0.1", "-P"+strconv.Itoa(src.Port), "-uroot",
		"--single-transaction", "--default-character-set=utf8mb4", "sbtest")
	load := exec.CommandContext(ctx, "mariadb", "--no-defaults", "-h127.0.0.1", "-P"+strconv.Itoa(dst.Port), "-uroot",
		"--default-character-set=utf8mb4", "sbtest_dump")
	pipe, err := dump.StdoutPipe()
	if err != nil {
		return result{}, err
	}
	load.Stdin = pipe
	dump.Stderr, load.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	if err := load.Start(); err != nil {
		return result{}, err
	}
	if err := dump.Run(); err != nil {
		return result{}, fmt.Errorf("mariadb-dump: %w", err)
	}
	if err := load.Wait(); err != nil {
		return result{}, fmt.Errorf("mariadb: %w", err)
	}
	return result{name: "mariadb-dump --single-transaction | mariadb", seconds: time.Since(start).Seconds(),
		rssMB: maxRSS(dump.ProcessState) + maxRSS(load.ProcessState),
		note:  fmt.Sprintf("(RSS: both processes; %.1f CPU s)", cpuSeconds(dump.ProcessState)+cpuSeconds(load.ProcessState))}, nil
}

func mydumper(ctx context.Context, f flags, src, dst *mariadbtest.Server, dir string, run int) (result, error) {
	out := filepath.Join(dir, fmt.Sprintf("mydumper-%d", run))
	th := strconv.Itoa(f.threads)
	dump := exec.CommandContext(ctx, "mydumper", "--host=127.0.0.1", "--port="+strconv.Itoa(src.Port), "--user=root",
		"--database=sbtest", "--outputdir="+out, "--threads="+th, "--trx-consistency-only", "--rows=100000")
	load := exec.CommandContext(ctx, "myloader", "--host=127.0.0.1", "--port="+strconv.Itoa(dst.Port), "--user=root",
		"--directory="+out, "--threads="+th, "--database=sbtest_mydumper", "--overwrite-tables")
	start := time.Now()
	if b, err := dump.CombinedOutput(); err != nil {
		return result{}, fmt.Errorf("mydumper: %w\n%s", err, b)
	}
	mid := time.Since(start).Seconds()
	if b, err := load.CombinedOutput(); err != nil {
		return result{}, fmt.Errorf("myloader: %w\n%s", err, b)
	}
	s := time.Since(start).Seconds()
	return result{name: "mydumper + myloader (" + th + " threads)", seconds: s,
		rssMB: max(maxRSS(dump.ProcessState), maxRSS(load.ProcessState)),
		note:  fmt.Sprintf("(dump %.1fs to files, then load %.1fs)", mid, s-mid)}, nil
}

// benchConfig is what the parent hands the child process.
type benchConfig struct {
	Cfg  units.Config
	Opts units.DumpLoadOptions
}

// dmplanCopy runs DumpLoad in a child process, to measure its own RSS.
func dmplanCopy(ctx context.Context, f flags, src, dst *mariadbtest.Server) (result, error) {
	ep := func(s *mariadbtest.Server) units.Endpoint {
		return units.Endpoint{Host: "127.0.0.1", Port: s.Port, User: "root"}
	}
	cfg := units.Config{Task: "bench", Source: "src", Mode: units.ModeFull, From: ep(src), To: ep(dst),
		Tables: []string{"sbtest.*"}, DumpThreads: f.threads}
	for i := range f.tables {
		t := "sbtest" + strconv.Itoa(i+1)
		cfg.Routes = append(cfg.Routes, units.Route{From: "sbtest." + t, To: "sbtest_dmplan." + t})
	}
	opts := units.DumpLoadOptions{Readers: f.readers, Loaders: f.loaders, ChunkRows: f.chunkRows, Method: f.method}
	b, _ := json.Marshal(benchConfig{cfg, opts})
	exe, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	cmd := exec.CommandContext(ctx, exe, "-child")
	cmd.Env = append(os.Environ(), "DMPLAN_BENCH_CFG="+string(b))
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("dmplan DumpLoad: %w", err)
	}
	method := f.method
	if method == "" {
		method = "load-data"
	}
	return result{name: fmt.Sprintf("dmplan DumpLoad in-process (%d threads, %s)", f.threads, method),
		seconds: time.Since(start).Seconds(), rssMB: maxRSS(cmd.ProcessState),
		note: fmt.Sprintf("(RSS: whole process; %.1f CPU s)", cpuSeconds(cmd.ProcessState))}, nil
}

func runChild() error {
	var bc benchConfig
	if err := json.Unmarshal([]byte(os.Getenv("DMPLAN_BENCH_CFG")), &bc); err != nil {
		return err
	}
	level := slog.LevelWarn
	if os.Getenv("DMPLAN_BENCH_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if path := os.Getenv("DMPLAN_BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	_, err := units.DumpLoadWith(context.Background(), bc.Cfg, bc.Opts, nil, log)
	return err
}
