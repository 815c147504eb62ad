package e2e

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dmplan/dmplan/spec"
)

// verifyRun runs `dmplan verify` and returns its exit code and stdout.
func (c *cluster) verifyRun(args ...string) (int, string, string) {
	c.t.Helper()
	cmd := exec.Command(dmplanBin, c.args(append([]string{"verify"}, args...)...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + c.dir} // passwords only from --env-file
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	c.t.Fatalf("dmplan verify: %v", err)
	return 0, "", ""
}

type verifyJSON struct {
	Result string
	Tables []struct {
		Table, Status           string
		Missing, Extra, Changed int
		Rechecked               int
		Rows                    []struct {
			Kind    string
			Key     []string
			Columns []string
		}
	}
	Summary struct{ RowsCompared int64 }
}

// dmplan verify while sync applies a steady stream of writes: no false
// difference; then two rows changed behind dmplan's back on the target are
// reported exactly (and only them), with statements that fix them.
func TestVerifyUnderWrites(t *testing.T) {
	c := newCluster(t)
	d := newDataset(t, c, "verify", 20000)
	c.startAgent("a")
	waitWorkers(c, 1)
	c.writeYAML("source.yaml", d.sourceYAML())
	c.writeYAML("task.yaml", d.taskYAML("running"))
	c.apply()
	envFile := c.writeEnvFile()
	// Right after the apply, as README's tour runs it: verify waits for
	// the copy to finish (there is nothing to compare before), then compares.
	if code, out, errOut := c.verifyRun("verify", "--env-file", envFile); code != 0 {
		t.Fatalf("verify right after apply: exit %d, want 0 (it waits for the copy):\n%s\n%s", code, out, errOut)
	} else {
		t.Logf("verify right after apply: %s", strings.TrimSpace(errOut))
	}
	c.waitStage(90*time.Second, "verify", "src-verify", spec.StageRunning, syncing("a"))

	w := d.startWriter(400)
	defer func() {
		select {
		case <-w.stop:
		default:
			w.halt(t)
		}
	}()
	waitFor(t, 30*time.Second, "writes to flow", func() (bool, error) { return w.ops.Load() > 300, nil })
	rechecked := 0
	for i := 0; i < 3; i++ {
		code, out, errOut := c.verifyRun("verify", "--env-file", envFile, "-o", "json", "--chunk-rows", "1000")
		var rep verifyJSON
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("verify -o json: %v\n%s\n%s", err, out, errOut)
		}
		if code != 0 || rep.Result != "equal" {
			t.Fatalf("run %d under writes: exit %d, want 0 (a correct, busy task):\n%s\n%s", i, code, out, errOut)
		}
		for _, tb := range rep.Tables {
			rechecked += tb.Rechecked
		}
		t.Logf("run %d: %d rows compared, writer at %d ops", i, rep.Summary.RowsCompared, w.ops.Load())
	}
	t.Logf("FIGURE verify under %d writes: 3 runs equal, %d chunks differed at first and were re-checked", w.ops.Load(), rechecked)

	// Two rows the writer does not touch (it updates and deletes ids up to
	// its operation count + 1,000), changed on the target only.
	if ops := w.ops.Load(); ops > 17000 {
		t.Skipf("the writer reached %d ops: rows 19998/19999 may be its own", ops)
	}
	d.exec(d.tgt, "UPDATE `"+d.db+"`.t1 SET c = 'tampered' WHERE id = 19999", "DELETE FROM `"+d.db+"`.t1 WHERE id = 19998")
	fix := filepath.Join(c.dir, "fix.sql")
	code, out, errOut := c.verifyRun("verify", "--env-file", envFile, "-o", "json", "--fix-sql", fix, "--tables", d.db+".t1")
	var rep verifyJSON
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("verify -o json: %v\n%s\n%s", err, out, errOut)
	}
	if code != 2 || len(rep.Tables) != 1 {
		t.Fatalf("after tampering: exit %d, want 2:\n%s\n%s", code, out, errOut)
	}
	tb := rep.Tables[0]
	if tb.Missing != 1 || tb.Changed != 1 || tb.Extra != 0 || len(tb.Rows) != 2 {
		t.Fatalf("after tampering: want exactly 1 missing and 1 changed row, got:\n%s", out)
	}
	for _, r := range tb.Rows {
		switch {
		case r.Kind == "missing" && r.Key[0] == "id=19998":
		case r.Kind == "changed" && r.Key[0] == "id=19999" && strings.Join(r.Columns, ",") == "c":
		default:
			t.Fatalf("unexpected row %+v:\n%s", r, out)
		}
	}
	sqlText, err := os.ReadFile(fix)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(sqlText), "REPLACE INTO `"+d.db+"`.`t1`"); n != 2 {
		t.Fatalf("fix SQL: %d REPLACE statements, want 2:\n%s", n, sqlText)
	}
	w.halt(t)

	// Markdown for a pull request, text for people.
	code, out, _ = c.verifyRun("verify", "--env-file", envFile, "-o", "markdown", "--tables", d.db+".t1")
	if code != 2 || !strings.Contains(out, "| `"+d.db+".t1` |") || !strings.Contains(out, "missing `id=19998`") {
		t.Fatalf("markdown: exit %d\n%s", code, out)
	}
	// A password that is not the applied one is refused before connecting.
	os.WriteFile(envFile, []byte(d.srcPWVar+"=wrong\n"+d.tgtPWVar+"="+c.env[d.tgtPWVar]+"\n"), 0o600)
	code, _, errOut = c.verifyRun("verify", "--env-file", envFile)
	if code != 1 || !strings.Contains(errOut, "differs from the applied password") || strings.Contains(errOut, "wrong") {
		t.Fatalf("wrong password: exit %d, stderr %s", code, errOut)
	}
}
