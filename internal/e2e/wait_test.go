package e2e

import (
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/statusview"
)

// wait runs `dmplan status ARGS --wait` to its end and returns its exit
// code, stdout and stderr.
func (c *cluster) wait(args ...string) (int, string, string) {
	c.t.Helper()
	cmd := exec.Command(dmplanBin, c.args(append([]string{"status", "--wait"}, args...)...)...)
	cmd.Env = c.environ()
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String(), errb.String()
	}
	c.t.Fatalf("dmplan status --wait: %v", err)
	return 0, "", ""
}

// A mode full copy through apply and `dmplan status TASK --wait`, as a
// GitOps pipeline runs it: the wait returns once the copy has finished
// (the target equals the source when it returns, with no further wait),
// and after an apply that changes the task it returns only once the copy
// of the new config has finished, never on the finished status of the
// earlier one.
func TestFullCopyWait(t *testing.T) {
	c := newCluster(t)
	d := newDataset(t, c, "waitfull", 2000)
	c.startAgent("a")
	waitWorkers(c, 1)
	full := func(tables string) string {
		return strings.Replace(strings.Replace(d.taskYAML("running"), "mode: all", "mode: full", 1),
			`"`+d.db+`.*"`, tables, 1)
	}
	c.writeYAML("sources.yaml", d.sourceYAML())
	c.writeYAML("task.yaml", full(`"`+d.db+`.t1"`))
	c.apply()
	waited := func() statusview.Subtask {
		t.Helper()
		code, out, errs := c.wait(d.name, "--timeout", "2m", "-o", "json")
		var v statusview.View
		if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil || len(v.Subtasks) != 1 {
			t.Fatalf("status --wait: exit %d (%v)\n%s%s", code, err, out, errs)
		}
		s := v.Subtasks[0]
		if s.Stage != statusview.StageFinished || !s.InSync || s.Stale || s.ConfigFingerprint == "" {
			t.Fatalf("status --wait returned with %+v", s)
		}
		return s
	}
	first := waited()
	want, err := d.tableDigest(d.src, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := d.tableDigest(d.tgt, "t1"); err != nil || got != want {
		t.Fatalf("status --wait returned before t1 was copied: target %s (%v), source %s", got, err, want)
	}

	// t2 newly matched: the finished copy is of the earlier config until
	// the agent has copied t2 as well.
	c.writeYAML("task.yaml", full(`"`+d.db+`.*"`))
	start := time.Now()
	c.apply()
	second := waited()
	t.Logf("apply -> status --wait returned in %s", time.Since(start))
	if second.ConfigFingerprint == first.ConfigFingerprint {
		t.Fatalf("the new config's status has the earlier one's fingerprint %s", first.ConfigFingerprint)
	}
	want, err = d.tableDigest(d.src, "t2")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := d.tableDigest(d.tgt, "t2"); err != nil || got != want {
		t.Fatalf("status --wait returned on the earlier config's finished status: t2 on the target %s (%v), source %s", got, err, want)
	}
}
