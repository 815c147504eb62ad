package main

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/dmplan/dmplan/internal/mariadbtest"
)

// The product path: what a user runs. A `dmplan server` (embedded etcd)
// and one `dmplan agent` are started before the clock starts; the clock
// runs from `dmplan apply` of a mode-full Task until `dmplan status -o
// json` shows the subtask finished.

const benchPassword = "bench-Pw-1"

// buildDmplan builds the dmplan command of this module into dir.
func buildDmplan(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, "dmplan")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/dmplan")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/dmplan: %w\n%s", err, b)
	}
	return bin, nil
}

// createBenchUser gives both servers the account the Source and Task use.
func createBenchUser(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, "CREATE USER IF NOT EXISTS 'dmplan'@'%' IDENTIFIED BY '"+benchPassword+"'; "+
		"GRANT ALL ON *.* TO 'dmplan'@'%'")
	return err
}

// productRun is one measured copy through server + agent + apply.
type productRun struct {
	seconds   float64 // apply -> status finished
	firstRow  float64 // apply -> first chunk committed on the target
	statusLag float64 // last commit (load_done) -> `dmplan status --wait` returned finished
	keyLag    float64 // last commit (load_done) -> the status key said finished
	applyCmd  float64 // the apply command's own run time
	agentRSS  float64
	agentCPU  float64
	agentUse  usage // the agent's CPU split and page faults, apply -> finished
	serverCPU float64
	applyCPU  float64 // the apply and status --wait processes' CPU
	waitCPU   float64
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startProc(bin string, env []string, logPath string, args ...string) (*proc, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); lf.Close(); close(p.done) }()
	return p, nil
}

// stop sends SIGTERM and waits (SIGKILL after 20 s).
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// statusDoc is the part of `dmplan status -o json` the benchmark reads.
type statusDoc struct {
	Workers []struct {
		Name string `json:"name"`
	} `json:"workers"`
	Subtasks []struct {
		Task  string `json:"task"`
		Stage string `json:"stage"`
		Unit  string `json:"unit"`
		Error string `json:"error"`
	} `json:"subtasks"`
}

// productCopy runs one copy through the product path into schema
// sbtest_product, with a fresh server and agent.
func productCopy(ctx context.Context, f flags, bin string, src, dst *mariadbtest.Server, dstDB *sql.DB, dir string, run int) (result, productRun, error) {
	var pr productRun
	rdir := filepath.Join(dir, fmt.Sprintf("product-%d", run))
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		return result{}, pr, err
	}
	cport, err := mariadbtest.FreePort()
	if err != nil {
		return result{}, pr, err
	}
	pport, err := mariadbtest.FreePort()
	if err != nil {
		return result{}, pr, err
	}
	endpoint := "127.0.0.1:" + strconv.Itoa(cport)
	env := append(os.Environ(), "DMPLAN_ENDPOINTS="+endpoint, "SOURCE_PASSWORD="+benchPassword, "TARGET_PASSWORD="+benchPassword)
	server, err := startProc(bin, env, filepath.Join(rdir, "server.log"), "server", "--data-dir", filepath.Join(rdir, "etcd"),
		"--listen", endpoint, "--peer-listen", "127.0.0.1:"+strconv.Itoa(pport))
	if err != nil {
		return result{}, pr, err
	}
	defer server.stop()
	status := func() (statusDoc, error) {
		var doc statusDoc
		cmd := exec.CommandContext(ctx, bin, "status", "-o", "json")
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			return doc, fmt.Errorf("dmplan status: %w", err)
		}
		return doc, json.Unmarshal(out, &doc)
	}
	waitFor := func(what string, ok func(statusDoc) bool) error {
		deadline := time.Now().Add(60 * time.Second)
		for {
			doc, err := status()
			if err == nil && ok(doc) {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("product path: %s: not after 60 s (last: %v)", what, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	level := cmp.Or(os.Getenv("DMPLAN_BENCH_AGENT_LOG"), "info")
	agentEnv := env
	if d := os.Getenv("DMPLAN_BENCH_AGENT_CPUPROFILE"); d != "" { // a CPU profile of the agent per run, into directory d
		agentEnv = append(slices.Clone(env), "DMPLAN_CPUPROFILE="+filepath.Join(d, fmt.Sprintf("agent-%d.cpu", run)))
	}
	agent, err := startProc(bin, agentEnv, filepath.Join(rdir, "agent.log"), "agent", "--name", "bench", "--log-level", level, "--log-format", "text")
	if err != nil {
		return result{}, pr, err
	}
	agentStopped := false
	defer func() {
		if !agentStopped {
			agent.stop()
		}
	}()
	if err := waitFor("agent registered", func(d statusDoc) bool { return len(d.Workers) == 1 }); err != nil {
		return result{}, pr, err
	}

	task := fmt.Sprintf("bench%d", run)
	var y strings.Builder
	fmt.Fprintf(&y, `apiVersion: dmplan/v1
kind: Source
metadata:
  name: src
spec:
  host: 127.0.0.1
  port: %d
  user: dmplan
  password: ${SOURCE_PASSWORD}
---
apiVersion: dmplan/v1
kind: Task
metadata:
  name: %s
spec:
  mode: full
  target: {host: 127.0.0.1, port: %d, user: dmplan, password: "${TARGET_PASSWORD}"}
  sources: [src]
  tables: ["sbtest.*"]
  dump: {threads: %d}
  routes:
`, src.Port, task, dst.Port, f.threads)
	for i := range f.tables {
		fmt.Fprintf(&y, "    - {from: sbtest.sbtest%d, to: sbtest_product.sbtest%d}\n", i+1, i+1)
	}
	ydir := filepath.Join(rdir, "desired")
	if err := os.MkdirAll(ydir, 0o755); err != nil {
		return result{}, pr, err
	}
	if err := os.WriteFile(filepath.Join(ydir, "bench.yaml"), []byte(y.String()), 0o644); err != nil {
		return result{}, pr, err
	}

	agentPID := agent.cmd.Process.Pid
	serverPID := server.cmd.Process.Pid
	ause0, scpu0 := procUsage(agentPID), procCPU(serverPID)

	// The first row: poll the target (cheap) for a committed chunk until
	// there is one.
	var firstAt atomic.Int64 // unix nanoseconds
	pctx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	go func() {
		for pctx.Err() == nil {
			var n int
			if dstDB.QueryRowContext(pctx, "SELECT COUNT(*) FROM dmplan_meta.load_chunk WHERE task = ? AND done = 1", task).Scan(&n) == nil && n > 0 {
				firstAt.Store(time.Now().UnixNano())
				return
			}
			select {
			case <-pctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	// The status key itself, watched: when the agent's write of stage
	// finished lands in etcd (a `dmplan status` started from then on
	// shows it; the command's own run time comes on top).
	var keyAt atomic.Int64
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		return result{}, pr, err
	}
	defer cli.Close()
	wch := cli.Watch(pctx, "/dmplan/v1/status/"+task+"/", clientv3.WithPrefix())
	go func() {
		for resp := range wch {
			for _, ev := range resp.Events {
				var st struct {
					Stage string `json:"stage"`
				}
				if json.Unmarshal(ev.Kv.Value, &st) == nil && st.Stage == "finished" && keyAt.Load() == 0 {
					keyAt.Store(time.Now().UnixNano())
				}
			}
		}
	}()

	// As a pipeline runs it: `dmplan apply`, then `dmplan status TASK
	// --wait`, which follows etcd's watch and returns with the status once
	// the copy has finished (exit 3 at once on an error). The time is
	// until it returns, its JSON showing finished.
	start := time.Now()
	fmt.Fprintf(os.Stderr, "  apply at %s\n", start.UTC().Format("15:04:05.000"))
	apply := exec.CommandContext(ctx, bin, "apply", "-f", ydir, "--auto-approve")
	apply.Env = env
	var applyOut bytes.Buffer
	apply.Stdout, apply.Stderr = &applyOut, &applyOut
	if err := apply.Run(); err != nil {
		return result{}, pr, fmt.Errorf("dmplan apply: %w\n%s", err, applyOut.String())
	}
	pr.applyCmd = time.Since(start).Seconds()
	pr.applyCPU = cpuSeconds(apply.ProcessState)
	wait := exec.CommandContext(ctx, bin, "status", task, "--wait", "--timeout", "10m", "-o", "json")
	wait.Env = env
	var waitErr bytes.Buffer
	wait.Stderr = &waitErr
	out, err := wait.Output()
	finished := time.Now()
	if wait.ProcessState != nil {
		pr.waitCPU = cpuSeconds(wait.ProcessState)
	}
	if err != nil {
		return result{}, pr, fmt.Errorf("dmplan status %s --wait: %w\n%s", task, err, waitErr.String())
	}
	var doc statusDoc
	if err := json.Unmarshal(out, &doc); err != nil {
		return result{}, pr, fmt.Errorf("dmplan status %s --wait: %w", task, err)
	}
	for _, st := range doc.Subtasks {
		if st.Task == task && st.Stage != "finished" {
			return result{}, pr, fmt.Errorf("dmplan status %s --wait returned with stage %q (%s)", task, st.Stage, st.Error)
		}
	}
	pr.seconds = finished.Sub(start).Seconds()
	pr.firstRow = -1
	if t := firstAt.Load(); t != 0 {
		pr.firstRow = time.Unix(0, t).Sub(start).Seconds()
	}
	var committed float64
	if err := dstDB.QueryRowContext(ctx, "SELECT UNIX_TIMESTAMP(finished_at) FROM dmplan_meta.load_done WHERE task = ?", task).Scan(&committed); err != nil {
		return result{}, pr, fmt.Errorf("read load_done: %w", err)
	}
	pr.statusLag = float64(finished.UnixNano())/1e9 - committed
	pr.keyLag = -1
	if t := keyAt.Load(); t != 0 {
		pr.keyLag = float64(t)/1e9 - committed
	}
	pr.agentUse, pr.serverCPU = procUsage(agentPID).sub(ause0), procCPU(serverPID)-scpu0
	pr.agentCPU = pr.agentUse.user + pr.agentUse.sys
	agent.stop()
	agentStopped = true
	pr.agentRSS = maxRSS(agent.cmd.ProcessState)
	return result{
		name:     fmt.Sprintf("dmplan apply -> finished (%d threads)", f.threads),
		seconds:  pr.seconds,
		rssMB:    pr.agentRSS,
		firstRow: pr.firstRow,
		note: fmt.Sprintf("(apply command %.2fs, first row %.2fs; after the last commit: status key finished %.2fs, status --wait returned %.2fs; agent %.2f CPU s (user %.2f, system %.2f, %d minor faults), etcd %.2f CPU s, apply %.2f and status --wait %.2f CPU s)",
			pr.applyCmd, pr.firstRow, pr.keyLag, pr.statusLag, pr.agentCPU, pr.agentUse.user, pr.agentUse.sys, pr.agentUse.minflt, pr.serverCPU,
			pr.applyCPU, pr.waitCPU),
	}, pr, nil
}
