package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/reconciler"
	"github.com/dmplan/dmplan/spec"
)

// A source password rotated in YAML reaches the running agents: the
// applied digest changes, the agents read the new value from their env
// file, and the units restart with it. An agent whose value differs from
// the applied one reports stage error, without the value.
func TestPasswordRotation(t *testing.T) {
	c := newCluster(t)
	d := newDataset(t, c, "rotate", 5000)
	c.startAgent("a")
	waitWorkers(c, 1)
	w := d.startWriter(100)
	c.writeYAML("source.yaml", d.sourceYAML())
	c.writeYAML("task.yaml", d.taskYAML("running"))
	c.apply()
	c.waitStage(60*time.Second, "rotate", "src-rotate", spec.StageRunning, syncing("a"))

	// The password changes on the source and in the applier's
	// environment, but not yet on the agent: apply, then the agent
	// refuses to run with a value that differs from the applied one.
	const newPW = "src-rotate-pw2"
	oldPW := c.env[d.srcPWVar]
	d.exec(d.src, "ALTER USER '"+d.srcUser+"'@'127.0.0.1' IDENTIFIED BY '"+newPW+"'")
	c.env[d.srcPWVar] = newPW
	c.apply() // the agent's env file still holds the old value
	st, _ := c.waitStage(15*time.Second, "rotate", "src-rotate", reconciler.StageError, nil)
	if !strings.Contains(st.Error, "agent a's $"+d.srcPWVar+" differs from the applied password") ||
		strings.Contains(st.Error, newPW) || strings.Contains(st.Error, oldPW) {
		t.Fatalf("status error = %q", st.Error)
	}

	// The agent's env file gets the new value: the agent notices within a
	// second and the units start with the new password.
	c.writeEnvFile()
	_, took := c.waitStage(10*time.Second, "rotate", "src-rotate", spec.StageRunning, func(s store.SubtaskStatus) bool {
		return s.Unit == "sync" && s.Error == ""
	})
	t.Logf("env file rewritten -> running again after %s", took)
	// Every connection of the user now uses the new password: kill them
	// all; the units reconnect, and the writes keep arriving.
	rows, err := d.src.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?", d.srcUser)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		d.src.Exec("KILL CONNECTION ?", id)
	}
	ops := w.ops.Load()
	waitFor(t, 10*time.Second, "more writes", func() (bool, error) { return w.ops.Load() > ops+100, nil })
	n := w.halt(t)
	d.waitEqual(60 * time.Second)
	if st, ok, err := c.status("rotate", "src-rotate"); err != nil || !ok || st.Stage != spec.StageRunning {
		t.Fatalf("final status %+v (%v, %v)", st, ok, err)
	}
	for _, p := range append(c.procs(), c.server) {
		if strings.Contains(tail(p.log, 1<<20), newPW) || strings.Contains(tail(p.log, 1<<20), oldPW) {
			t.Fatalf("a password is in the log of %s", p.name)
		}
	}
	t.Logf("%d concurrent writes; target equal to the source", n)
}
