package verify

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmplan/dmplan/units"
)

// TestStalledSubtaskIsNotWaitedFor: a subtask whose sync does not run (in
// error, paused) leaves a changed row unapplied; verify reports the table
// at once with why, instead of waiting Options.Wait for a checkpoint that
// will not move.
func TestStalledSubtaskIsNotWaitedFor(t *testing.T) {
	needServers(t)
	src := open(t, source)
	exec(t, src, "DROP DATABASE IF EXISTS vs", "CREATE DATABASE vs", "CREATE TABLE vs.t (id INT PRIMARY KEY, v INT)", "INSERT INTO vs.t VALUES (1, 1)")
	cfg := units.Config{Task: "vs", Source: "src", Mode: units.ModeAll, From: endpoint(source), To: endpoint(target),
		Flavor: "mariadb", Tables: []string{"vs.*"}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	synced := make(chan struct{})
	var once sync.Once
	go func() {
		done <- units.Run(ctx, cfg, units.ReporterFunc(func(p units.Progress) {
			if p.Unit == "sync" && p.Position.File != "" {
				once.Do(func() { close(synced) })
			}
		}), nil)
	}()
	select {
	case <-synced:
	case err := <-done:
		t.Fatalf("Run ended before sync: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("no sync within a minute")
	}
	cancel()
	<-done
	exec(t, src, "UPDATE vs.t SET v = 2 WHERE id = 1") // the stopped subtask never applies it

	sub := Subtask{Task: "vs", Source: "src", Mode: units.ModeAll, From: cfg.From, To: cfg.To, Flavor: "mariadb",
		Tables: cfg.Tables, Stalled: "observed stage paused"}
	// Waiting would take the whole Wait: the test's deadline is far
	// shorter, so a wait fails it.
	rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer rcancel()
	rep, err := Run(rctx, Options{Subtasks: []Subtask{sub}, Wait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tr := table(t, rep, "vs.t")
	if !strings.Contains(tr.Error, "its sync does not run (observed stage paused)") {
		t.Errorf("vs.t: %+v, want an error saying its sync does not run", tr)
	}
	if rep.Outcome() != 1 {
		t.Errorf("outcome %d, want 1 (not verified)", rep.Outcome())
	}
}
