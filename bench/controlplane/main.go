// Command controlplane measures dmplan's control plane as a user runs it:
// whole `dmplan plan` and `dmplan apply` processes for 1,000 sources and
// 10,000 tasks against an embedded etcd, with wall time and peak memory
// (max RSS) of each process.
//
//	go run ./bench/controlplane [-sources 1000] [-tasks 10000]
//
// Goals (issue 2): plan and apply each under 3 s, peak memory under 300 MB.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/dmplan/dmplan/internal/etcdserver"
)

func main() {
	sources := flag.Int("sources", 1000, "number of sources")
	tasks := flag.Int("tasks", 10000, "number of tasks")
	flag.Parse()
	if err := run(*sources, *tasks); err != nil {
		log.Fatal(err)
	}
}

func run(nSources, nTasks int) error {
	dir, err := os.MkdirTemp("", "dmplan-bench-cp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "dmplan")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/dmplan").CombinedOutput(); err != nil {
		return fmt.Errorf("build dmplan (run from the repository root): %v\n%s", err, out)
	}
	ctx := context.Background()
	srv, err := etcdserver.Start(ctx, etcdserver.Config{DataDir: filepath.Join(dir, "etcd"),
		ClientURL: "http://127.0.0.1:0", PeerURL: "http://127.0.0.1:0"})
	if err != nil {
		return err
	}
	defer srv.Close()
	desired := filepath.Join(dir, "desired.yaml")
	if err := os.WriteFile(desired, []byte(yamlFor(nSources, nTasks)), 0o644); err != nil {
		return err
	}
	env := append(os.Environ(), "DMPLAN_ENDPOINTS="+strings.Join(srv.Endpoints(), ","),
		"SOURCE_PASSWORD=bench-source", "TARGET_PASSWORD=bench-target")
	fmt.Printf("dmplan control plane: %d sources, %d tasks (%d subtasks), embedded etcd\n", nSources, nTasks, nTasks)
	fmt.Printf("%-34s %10s %12s   %s\n", "command", "wall", "max RSS", "goal")
	steps := []struct {
		name string
		args []string
	}{
		{"plan (empty -> full)", []string{"plan", "-f", desired, "--out", filepath.Join(dir, "p.plan")}},
		{"apply saved plan", []string{"apply", filepath.Join(dir, "p.plan")}},
		{"plan (no changes)", []string{"plan", "-f", desired}},
		{"apply -f (plan + apply, no changes)", []string{"apply", "-f", desired, "--auto-approve"}},
	}
	for _, s := range steps {
		wall, rss, err := measure(bin, s.args, env)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Printf("%-34s %9.2fs %9.1f MB   < 3 s, < 300 MB\n", s.name, wall.Seconds(), float64(rss)/1024)
	}
	return nil
}

func measure(bin string, args, env []string) (time.Duration, int64, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("%v\n%s", err, out.String())
	}
	wall := time.Since(start)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return wall, ru.Maxrss, nil
}

func yamlFor(nSources, nTasks int) string {
	var b strings.Builder
	for i := range nSources {
		fmt.Fprintf(&b, "---\napiVersion: dmplan/v1\nkind: Source\nmetadata: {name: src-%04d}\nspec: {host: 127.0.0.1, port: %d, user: dmplan, password: \"${SOURCE_PASSWORD}\"}\n", i, 10000+i%50000)
	}
	for i := range nTasks {
		fmt.Fprintf(&b, "---\napiVersion: dmplan/v1\nkind: Task\nmetadata: {name: task-%05d}\nspec:\n  mode: all\n  target: {host: 127.0.0.1, port: 4000, user: root, password: \"${TARGET_PASSWORD}\"}\n  sources: [src-%04d]\n  tables: [\"db%05d.*\", \"!db%05d.tmp_*\"]\n", i, i%nSources, i, i)
	}
	return b.String()
}
