package statusview

import (
	"bytes"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/golden"
	"github.com/dmplan/dmplan/internal/store"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
)

func fixture() (*store.Snapshot, []store.SubtaskStatus, []store.ApplyRecord) {
	ep := func(port int) spec.Endpoint { return spec.Endpoint{Host: "127.0.0.1", Port: port, User: "dmplan"} }
	task := func(name string, mode spec.Mode, stage spec.Stage, sources ...string) spec.Task {
		return spec.Task{Name: name, Mode: mode, Stage: stage, Target: ep(4000), Sources: sources, Tables: []string{name + ".*"}}
	}
	st := planner.State{
		Sources: map[string]spec.Source{
			"mysql-01": {Name: "mysql-01", Endpoint: ep(3306), Flavor: spec.FlavorMariaDB},
			"mysql-02": {Name: "mysql-02", Endpoint: ep(3307), Worker: "agent-b"},
			"mysql-03": {Name: "mysql-03", Endpoint: ep(3308)},
		},
		Tasks: map[string]spec.Task{
			"shop":    task("shop", spec.ModeAll, spec.StageRunning, "mysql-01", "mysql-02"),
			"archive": task("archive", spec.ModeFull, spec.StageRunning, "mysql-01"),
			"audit":   task("audit", spec.ModeIncremental, spec.StagePaused, "mysql-03"),
			"crm":     task("crm", spec.ModeIncremental, spec.StageRunning, "mysql-01"),
		},
		Bounds: map[string]string{"mysql-01": "agent-a", "mysql-02": "agent-b", "mysql-03": "agent-gone"},
	}
	snap := &store.Snapshot{State: st, Revision: 42, Workers: []planner.Worker{
		{Name: "agent-a", Address: "127.0.0.1:8301"}, {Name: "agent-b", Address: "127.0.0.1:8302"},
	}}
	at := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)
	statuses := []store.SubtaskStatus{
		{Task: "shop", Source: "mysql-01", Worker: "agent-a", Stage: spec.StageRunning, Unit: "sync",
			GTID: "0-1-1234", LagSeconds: 0.4, Orphaned: []string{"shop.orders_01", "shop.orders_02"}, UpdatedAt: at,
			Validation: &store.Validation{Mode: "full", Checked: 182004, Pending: 37, Failed: 2, Skipped: 120, Rows: []store.ValidationRow{
				{Table: "shop.orders", Key: "id=1042", Kind: "changed", Columns: []string{"status", "total"},
					BinlogFile: "mysql-bin.000002", BinlogPos: 88213, DetectedAt: at.Add(-time.Minute)},
				{Table: "shop.customers", Key: "id=7", Kind: "missing", BinlogFile: "mysql-bin.000002", BinlogPos: 4410, DetectedAt: at.Add(-time.Hour)},
			}}},
		{Task: "shop", Source: "mysql-02", Worker: "agent-b", Stage: spec.StageRunning, Unit: "load",
			Progress: store.Progress{TablesDone: 3, TablesTotal: 8, RowsDone: 412000, RowsTotal: 800000, Bytes: 7 << 20}, UpdatedAt: at,
			Error: "lock subtask shop/mysql-02 on the target dmplan@127.0.0.1:4000: dial tcp 127.0.0.1:4000: connect: connection refused (retrying in 4s)"},
		{Task: "archive", Source: "mysql-01", Worker: "agent-a", Stage: StageFinished, UpdatedAt: at},
		{Task: "crm", Source: "mysql-01", Worker: "agent-a", Stage: StageError, Unit: "sync",
			BinlogFile: "mysql-bin.000003", BinlogPos: 1234,
			Error: `apply to crm.users at mysql-bin.000003:1234: table has no key`, UpdatedAt: at},
	}
	applies := []store.ApplyRecord{
		{ID: "2", Seq: 2, Time: at, User: "ana", Host: "laptop", GitCommit: "0123456789abcdef0123", Summary: planner.Summary{Update: 2}},
		{ID: "1", Seq: 1, Time: at.Add(-time.Hour), User: "agent:agent-a", Summary: planner.Summary{Create: 12}},
	}
	return snap, statuses, applies
}

func TestGolden(t *testing.T) {
	snap, statuses, applies := fixture()
	v := Build(snap, statuses, applies, "")
	var txt, bars, js bytes.Buffer
	if err := RenderText(&txt, v, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := RenderText(&bars, v, TextOptions{Bars: true}); err != nil {
		t.Fatal(err)
	}
	if err := RenderJSON(&js, v); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "statusview/status.txt", txt.Bytes())
	golden.Check(t, "statusview/status-bars.txt", bars.Bytes())
	golden.Check(t, "statusview/status.json", js.Bytes())
}

func TestJudge(t *testing.T) {
	snap, statuses, applies := fixture()
	v := Build(snap, statuses, applies, "")
	want := map[string]string{
		"archive/mysql-01": "",                                              // finished counts as running
		"audit/mysql-03":   "waiting for an agent (nothing runs meanwhile)", // paused, bound to a dead agent
		"crm/mysql-01":     "error: fix the cause, then change the config or pause (wait until observed paused) and resume",
		"shop/mysql-01":    "validation: 2 rows differ on the target (listed below; dmplan verify shop --fix-sql FILE writes the repair)",
		"shop/mysql-02":    "",
	}
	for _, s := range v.Subtasks {
		id := s.Task + "/" + s.Source
		if s.Note != want[id] || s.InSync != (s.Stage != StageError) {
			t.Errorf("%s: inSync=%v note=%q, want note %q", id, s.InSync, s.Note, want[id])
		}
	}
	if in, total := v.Summary(); in != 4 || total != 5 {
		t.Errorf("summary %d/%d, want 4/5", in, total)
	}
	if n := v.Retrying(); n != 1 {
		t.Errorf("retrying %d, want 1 (shop/mysql-02 cannot reach its target)", n)
	}
	if got := Build(snap, statuses, applies, "shop"); len(got.Subtasks) != 2 {
		t.Errorf("filter by task: %d subtasks, want 2", len(got.Subtasks))
	}
	empty := Build(&store.Snapshot{State: planner.State{}}, nil, nil, "")
	var b bytes.Buffer
	if err := RenderText(&b, empty, TextOptions{}); err != nil || !bytes.Contains(b.Bytes(), []byte("Nothing applied yet")) {
		t.Errorf("empty state: %q %v", b.String(), err)
	}
}
