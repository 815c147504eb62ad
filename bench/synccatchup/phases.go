package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dmplan/dmplan/internal/mariadbtest"
	"github.com/dmplan/dmplan/units"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

const markers = 64 // marker rows written last: enough that every dmplan worker gets some

// prepare creates the sysbench tables and the bench tables on the source
// and copies them to every follower.
func prepare(ctx context.Context, f flags, src *mariadbtest.Server, srcDB *sql.DB, copies []*copyOf) error {
	for _, q := range []string{
		"CREATE DATABASE sbtest", "CREATE DATABASE bench",
		"CREATE TABLE bench.marker (id INT PRIMARY KEY)",
		"CREATE TABLE bench.hb (id INT PRIMARY KEY, ts DATETIME(6) NOT NULL)",
		"INSERT INTO bench.hb VALUES (1, NOW(6))",
	} {
		if _, err := srcDB.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	t0 := time.Now()
	if err := sysbench(ctx, src.Port, f, "prepare", "--threads="+fmt.Sprint(min(f.tables, 4))); err != nil {
		return err
	}
	fmt.Printf("sysbench prepare: %.1f s\n", time.Since(t0).Seconds())
	t0 = time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(copies))
	for i, c := range copies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := units.Config{Task: fmt.Sprint("copy", i), Source: "src", Mode: units.ModeFull,
				From:   units.Endpoint{Host: "127.0.0.1", Port: src.Port, User: "root"},
				To:     units.Endpoint{Host: "127.0.0.1", Port: c.srv.Port, User: "root"},
				Tables: []string{"sbtest.*", "bench.*"}, DumpThreads: 2}
			_, errs[i] = units.DumpLoad(ctx, cfg, nil, nil)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Printf("copied to %d followers: %.1f s\n", len(copies), time.Since(t0).Seconds())
	return nil
}

func sysbench(ctx context.Context, port int, f flags, command string, extra ...string) error {
	args := append([]string{"oltp_write_only", "--db-driver=mysql", "--mysql-host=127.0.0.1", fmt.Sprint("--mysql-port=", port),
		"--mysql-user=root", "--mysql-db=sbtest", fmt.Sprint("--tables=", f.tables), fmt.Sprint("--table-size=", f.tableSize)}, extra...)
	args = append(args, command)
	out, err := exec.CommandContext(ctx, "sysbench", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("sysbench %s: %w\n%s", command, err, out)
	}
	lastSysbench = string(out)
	return nil
}

var lastSysbench string

func masterPos(ctx context.Context, db *sql.DB) (units.Position, error) {
	var p units.Position
	var a, b any
	if err := db.QueryRowContext(ctx, "SHOW MASTER STATUS").Scan(&p.File, &p.Pos, &a, &b); err != nil {
		return p, err
	}
	err := db.QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, ?)", p.File, p.Pos).Scan(&p.GTID)
	return p, err
}

func setupReplica(ctx context.Context, db *sql.DB, srcPort int, gtid string, parallel bool) error {
	qs := []string{
		"STOP SLAVE",
		"SET GLOBAL gtid_slave_pos = '" + gtid + "'",
		fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='root', MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos", srcPort),
	}
	if parallel {
		qs = append(qs, "SET GLOBAL slave_parallel_threads = 4", "SET GLOBAL slave_parallel_mode = 'optimistic'")
	}
	for _, q := range qs {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// countRowChanges reads the source's binlog from start to end and counts
// row changes (an update counts once).
func countRowChanges(ctx context.Context, port int, start, end units.Position) (int64, error) {
	s := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{ServerID: 4242, Flavor: "mariadb", Host: "127.0.0.1",
		Port: uint16(port), User: "root", Logger: quiet()})
	defer s.Close()
	st, err := s.StartSync(mysql.Position{Name: start.File, Pos: start.Pos})
	if err != nil {
		return 0, err
	}
	var n int64
	file := start.File
	for {
		ev, err := st.GetEvent(ctx)
		if err != nil {
			return 0, err
		}
		switch e := ev.Event.(type) {
		case *replication.RotateEvent:
			file = string(e.NextLogName)
		case *replication.RowsEvent:
			if e.Type() == replication.EnumRowsEventTypeUpdate {
				n += int64(len(e.Rows) / 2)
			} else {
				n += int64(len(e.Rows))
			}
		}
		if file == end.File && ev.Header.LogPos >= end.Pos {
			return n, nil
		}
	}
}

// waitMarkers waits until every marker row of a round is on db.
func waitMarkers(ctx context.Context, db *sql.DB, round int, check func() error) error {
	for {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM bench.marker WHERE id > ?", round*1000).Scan(&n); err != nil {
			return err
		}
		if n == markers {
			return nil
		}
		if err := check(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// catchUpReplica starts replication, waits for the round's markers and
// stops it again.
func catchUpReplica(ctx context.Context, db *sql.DB, round int) (float64, error) {
	t0 := time.Now()
	if _, err := db.ExecContext(ctx, "START SLAVE"); err != nil {
		return 0, err
	}
	check := func() error {
		st, err := slaveStatus(ctx, db)
		if err != nil {
			return err
		}
		for _, k := range []string{"Last_SQL_Error", "Last_IO_Error"} {
			if st[k] != "" {
				return fmt.Errorf("replication failed: %s", st[k])
			}
		}
		return nil
	}
	if err := waitMarkers(ctx, db, round, check); err != nil {
		return 0, err
	}
	secs := time.Since(t0).Seconds()
	_, err := db.ExecContext(ctx, "STOP SLAVE")
	return secs, err
}

// dmplanChild is the sync unit running in a child process.
type dmplanChild struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan error
}

func startDmplan(cfg units.Config, relayDir string, runRelay bool) (*dmplanChild, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	c := &dmplanChild{done: make(chan error, 1)}
	c.cmd = exec.Command(os.Args[0], "-child")
	c.cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	if relayDir != "" {
		c.cmd.Env = append(c.cmd.Env, relayEnv+"="+relayDir)
		if runRelay {
			c.cmd.Env = append(c.cmd.Env, relayRunEnv+"=1")
		}
	}
	c.cmd.Stdout = &lockedWriter{mu: &c.mu, w: &c.out}
	c.cmd.Stderr = os.Stderr
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { c.done <- c.cmd.Wait() }()
	return c, nil
}

// stop ends the child and returns its peak RSS in bytes (VmHWM: the
// rusage of a child forked from this large process counts this one's pages).
func (c *dmplanChild) stop() int64 {
	var hwm int64
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid)); err == nil {
		if m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(st); m != nil {
			fmt.Sscan(string(m[1]), &hwm)
		}
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
	return hwm << 10
}

func (c *dmplanChild) check() error {
	select {
	case err := <-c.done:
		c.done <- err
		return fmt.Errorf("the sync unit exited: %v", err)
	default:
		return nil
	}
}

// lags returns the lags the child reported.
func (c *dmplanChild) lags() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Duration
	for _, line := range strings.Split(c.out.String(), "\n") {
		var p struct{ Lag time.Duration }
		if json.Unmarshal([]byte(line), &p) == nil {
			out = append(out, p.Lag)
		}
	}
	return out
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// catchUpDmplan runs the sync unit until the round's markers are on the
// target; with validation, until its validator has read back every row
// it applied too (r.validSecs, r.failed).
func catchUpDmplan(ctx context.Context, cfg units.Config, relayDir string, runRelay bool, db *sql.DB, round int, r catchUp) (catchUp, error) {
	t0 := time.Now()
	c, err := startDmplan(cfg, relayDir, runRelay)
	if err != nil {
		return r, err
	}
	err = waitMarkers(ctx, db, round, c.check)
	r.secs = time.Since(t0).Seconds()
	if err == nil && cfg.Validate != "" {
		r.validSecs, r.failed, err = c.waitValidated(ctx, r.changes, t0)
	}
	r.cpuDmplan = procCPU(fmt.Sprint(c.cmd.Process.Pid))
	r.rss = c.stop()
	return r, err
}

// waitValidated waits until the child's validator reports nothing pending
// after checking rows, and returns when that was (seconds since t0) and
// how many rows it found differing.
func (c *dmplanChild) waitValidated(ctx context.Context, changes int64, t0 time.Time) (float64, int64, error) {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		if err := c.check(); err != nil {
			return 0, 0, err
		}
		if v := c.lastValidation(); v != nil && v.Pending == 0 && v.Checked > 0 {
			return time.Since(t0).Seconds(), v.Failed, nil
		}
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return 0, 0, fmt.Errorf("validation of %d row changes did not settle within 5 minutes", changes)
}

// lastValidation is the validator's last report (nil before one).
func (c *dmplanChild) lastValidation() *units.Validation {
	c.mu.Lock()
	defer c.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(c.out.String()), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var p childReport
		if json.Unmarshal([]byte(lines[i]), &p) == nil && p.Validation != nil {
			return p.Validation
		}
	}
	return nil
}

func checksumsEqual(ctx context.Context, a, b *sql.DB, tables int) (bool, error) {
	for i := 1; i <= tables; i++ {
		q := fmt.Sprintf("CHECKSUM TABLE sbtest.sbtest%d", i)
		var name string
		var x, y sql.NullInt64
		if err := a.QueryRowContext(ctx, q).Scan(&name, &x); err != nil {
			return false, err
		}
		if err := b.QueryRowContext(ctx, q).Scan(&name, &y); err != nil {
			return false, err
		}
		if x != y {
			return false, nil
		}
	}
	return true, nil
}

// steadyState runs sysbench at a fixed rate with every copy following,
// and measures each copy's lag with a heartbeat row.
func steadyState(ctx context.Context, f flags, cfg units.Config, srcPort int, srcDB *sql.DB, copies []*copyOf) error {
	for _, c := range copies[:2] {
		if _, err := c.db.ExecContext(ctx, "START SLAVE"); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	child, err := startDmplan(cfg, "", false)
	if err != nil {
		return err
	}
	defer child.stop()
	hctx, stopHB := context.WithCancel(ctx)
	defer stopHB()
	go func() {
		for hctx.Err() == nil {
			srcDB.ExecContext(hctx, "UPDATE bench.hb SET ts = NOW(6) WHERE id = 1")
			time.Sleep(20 * time.Millisecond)
		}
	}()
	samples := make([][]time.Duration, len(copies))
	var wg sync.WaitGroup
	warm := time.Now().Add(3 * time.Second)
	for i, c := range copies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for hctx.Err() == nil {
				var us int64
				if err := c.db.QueryRowContext(hctx, "SELECT TIMESTAMPDIFF(MICROSECOND, ts, NOW(6)) FROM bench.hb WHERE id = 1").Scan(&us); err == nil &&
					time.Now().After(warm) {
					samples[i] = append(samples[i], time.Duration(us)*time.Microsecond)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	err = sysbench(ctx, srcPort, f, "run", fmt.Sprint("--rate=", f.rate), fmt.Sprint("--time=", int(f.steady.Seconds())), "--threads=4", "--events=0")
	stopHB()
	wg.Wait()
	if err != nil {
		return err
	}
	tps := "?"
	if m := regexp.MustCompile(`transactions:\s+\d+\s+\(([\d.]+) per sec`).FindStringSubmatch(lastSysbench); m != nil {
		tps = m[1]
	}
	fmt.Printf("steady state: sysbench oltp_write_only --rate=%d for %v (achieved %s tx/s); lag by heartbeat (20 ms resolution)\n", f.rate, f.steady, tps)
	fmt.Printf("%-34s %9s %9s %9s\n", "", "p50", "p99", "max")
	for i, c := range copies {
		p50, p99, mx := percentiles(samples[i])
		fmt.Printf("%-34s %9s %9s %9s\n", c.name, p50, p99, mx)
	}
	p50, p99, mx := percentiles(child.lags())
	fmt.Printf("%-34s %9s %9s %9s\n", "dmplan sync, its own Progress.Lag", p50, p99, mx)
	return nil
}

func percentiles(d []time.Duration) (p50, p99, mx time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	slices.Sort(d)
	at := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))].Round(time.Millisecond) }
	return at(0.5), at(0.99), d[len(d)-1].Round(time.Millisecond)
}

// slaveStatus is SHOW SLAVE STATUS as a map.
func slaveStatus(ctx context.Context, db *sql.DB) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	if !rows.Next() {
		return out, rows.Err()
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	for i, c := range cols {
		out[c] = vals[i].String
	}
	return out, nil
}

// cpuSeconds is the CPU time (user + system) a server has used so far.
func cpuSeconds(s *mariadbtest.Server) float64 {
	pid, err := os.ReadFile(filepath.Join(s.Dir, "mariadbd.pid"))
	if err != nil {
		return 0
	}
	return procCPU(strings.TrimSpace(string(pid)))
}

func procCPU(pid string) float64 {
	st, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name (in parentheses): utime is 14th, stime 15th overall.
	rest := string(st[strings.LastIndexByte(string(st), ')')+2:])
	f := strings.Fields(rest)
	var ut, stime float64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &stime)
	return (ut + stime) / 100 // USER_HZ
}

// catchUp is one copy's catch-up in one round.
type catchUp struct {
	changes                    int64
	secs                       float64
	rss                        int64
	cpuCopy, cpuSrc, cpuDmplan float64
	same                       bool
	validSecs                  float64 // validation: every applied row read back
	failed                     int64   // validation: rows found differing
}

func summarize(name string, rs []catchUp) string {
	med := func(f func(catchUp) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	var each []string
	var rss int64
	same := true
	for _, r := range rs {
		each = append(each, fmt.Sprintf("%.0f", float64(r.changes)/r.secs))
		rss = max(rss, r.rss)
		same = same && r.same
	}
	rssText, cpuText := "-", "-"
	if rss > 0 {
		rssText = fmt.Sprintf("%d MB", rss>>20)
		cpuText = fmt.Sprintf("%.2fs", med(func(r catchUp) float64 { return r.cpuDmplan }))
	}
	line := fmt.Sprintf("%-34s %9.2f %12.0f %10s %8.2fs %8.2fs %9s %s  [%s]", name,
		med(func(r catchUp) float64 { return r.secs }), med(func(r catchUp) float64 { return float64(r.changes) / r.secs }),
		rssText, med(func(r catchUp) float64 { return r.cpuCopy }), med(func(r catchUp) float64 { return r.cpuSrc }), cpuText,
		map[bool]string{true: "equal", false: "DIFFER"}[same], strings.Join(each, " "))
	if v := med(func(r catchUp) float64 { return r.validSecs }); v > 0 {
		var failed int64
		for _, r := range rs {
			failed += r.failed
		}
		line += fmt.Sprintf("  validated after %.2f s, %d rows found differing", v, failed)
	}
	return line
}

// rate is a catch-up's rows per second.
func rate(c catchUp) float64 { return float64(c.changes) / c.secs }

// median is the median rate of some catch-ups.
func median(rs []catchUp) float64 {
	v := make([]float64, len(rs))
	for i, c := range rs {
		v[i] = rate(c)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// compareModes prints each validation mode's catch-up against none's
// (the first of the copies), round by round and as medians.
func compareModes(copies []*copyOf, results [][]catchUp) {
	base := median(results[0])
	fmt.Printf("validation against %q: catch-up rows/s (median), slowdown\n", copies[0].name)
	for i, c := range copies {
		m := median(results[i])
		fmt.Printf("%-34s %12.0f %8.1f %%\n", c.name, m, 100*(1-m/base))
	}
}

// compareRelay prints the catch-up through a relay against the direct
// one, round by round and as medians.
func compareRelay(direct, relay *copyOf, d, r []catchUp) {
	var each []string
	for i := range min(len(d), len(r)) {
		each = append(each, fmt.Sprintf("%.0f %%", 100*rate(r[i])/rate(d[i])))
	}
	fmt.Printf("relay on against off: %q %.0f rows/s, %q %.0f rows/s (medians): %.1f %% (rounds: %s)\n",
		relay.name, median(r), direct.name, median(d), 100*median(r)/median(d), strings.Join(each, ", "))
}
