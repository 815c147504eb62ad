package refresh

import (
	"context"
	"strings"
	"testing"

	_ "github.com/go-sql-driver/mysql"

	_ "github.com/dmplan/dmplan/internal/golden"
	"github.com/dmplan/dmplan/internal/mariadbtest"
	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
)

func exec(t *testing.T, s *mariadbtest.Server, stmts ...string) {
	t.Helper()
	db, err := s.DB("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// A filter change on a real source and target: the tables it newly
// selects and deselects with estimates, the prechecks it would meet,
// drift, and an unreachable target — all read without writing anything.
func TestGatherReadsTheServers(t *testing.T) {
	src := mariadbtest.New(t, mariadbtest.Options{})
	dst := mariadbtest.New(t, mariadbtest.Options{NoBinlog: true})
	exec(t, src, "CREATE DATABASE rf",
		"CREATE TABLE rf.kept (id INT PRIMARY KEY, v VARCHAR(10))",
		"CREATE TABLE rf.refunds (id INT PRIMARY KEY, amount DECIMAL(10,2))",
		"INSERT INTO rf.refunds SELECT seq, seq FROM mysql.seq_1_to_1000",
		"CREATE TABLE rf.nokey (a INT, b INT)",
		"CREATE TABLE rf.tmp_x (id INT PRIMARY KEY)",
		"ANALYZE TABLE rf.refunds")
	exec(t, dst, "CREATE DATABASE rf",
		"CREATE TABLE rf.kept (id INT PRIMARY KEY, v VARCHAR(20), extra INT)", // drift
		"CREATE TABLE rf.refunds (id INT PRIMARY KEY, amount DECIMAL(10,2))",
		"INSERT INTO rf.refunds VALUES (1, 1)") // the copy would stop on a duplicate key
	h := spec.NewHasher(nil)
	env := map[string]string{}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	source := spec.Source{Name: "s1", Endpoint: spec.Endpoint{Host: "127.0.0.1", Port: src.Port, User: "root"}, Flavor: "mariadb"}
	task := func(tables []string, port int) spec.Task {
		return spec.Task{Name: "shop", Mode: spec.ModeAll, Stage: spec.StageRunning, Sources: []string{"s1"}, Tables: tables,
			Target: spec.Endpoint{Host: "127.0.0.1", Port: port, User: "root"}}
	}
	current := planner.State{Sources: map[string]spec.Source{"s1": source},
		Tasks: map[string]spec.Task{"shop": task([]string{"rf.kept", "rf.tmp_x"}, dst.Port)}}
	desired := planner.State{Sources: map[string]spec.Source{"s1": source},
		Tasks: map[string]spec.Task{"shop": task([]string{"rf.*", "!rf.tmp_*"}, dst.Port)}}
	plan := &planner.Plan{Desired: desired, Changes: []planner.Change{{Kind: planner.KindSubtask, Name: "shop/s1", Action: planner.Update}}}

	r := Gather(context.Background(), Input{Plan: plan, Current: current, Hasher: h, Getenv: getenv})
	if len(r.Errors) != 0 || len(r.Subtasks) != 1 {
		t.Fatalf("refresh: %+v", r)
	}
	f := r.Subtasks[0]
	var sel, desel []string
	for _, t := range f.Selected {
		sel = append(sel, t.Table)
	}
	for _, t := range f.Deselected {
		desel = append(desel, t.Table)
	}
	if strings.Join(sel, ",") != "rf.nokey,rf.refunds" || strings.Join(desel, ",") != "rf.tmp_x" {
		t.Fatalf("selected %v, deselected %v", sel, desel)
	}
	if f.Selected[1].Rows < 500 || f.Selected[1].Bytes == 0 || f.CopySeconds <= 0 || f.CopyRate != CopyRate {
		t.Fatalf("estimates: %+v copy %v", f.Selected[1], f.CopySeconds)
	}
	checks := ""
	for _, c := range f.Checks {
		checks += c.Level + ": " + c.Message + "\n"
	}
	for _, want := range []string{"warning: table `rf`.`nokey` has no primary key", "error: target table rf.refunds already has rows"} {
		if !strings.Contains(checks, want) {
			t.Errorf("checks lack %q:\n%s", want, checks)
		}
	}
	if len(f.Drift) != 1 || !strings.Contains(f.Drift[0], "rf.kept: v is varchar(20), the source's varchar(10); has extra the source lacks") {
		t.Errorf("drift: %q", f.Drift)
	}

	foreignKeyFacts(t, src, dst, Input{Hasher: h, Getenv: getenv}, source)

	// The source breaks a precheck; the target goes away.
	exec(t, src, "SET GLOBAL binlog_format = 'STATEMENT'")
	defer exec(t, src, "SET GLOBAL binlog_format = 'ROW'")
	port, _ := mariadbtest.FreePort()
	desired.Tasks["shop"] = task([]string{"rf.*"}, port)
	r = Gather(context.Background(), Input{Plan: plan, Current: current, Hasher: h, Getenv: getenv})
	f = r.Subtasks[0]
	if len(f.Drift) != 1 || !strings.Contains(f.Drift[0], "target of task shop (root@127.0.0.1:") || !strings.Contains(f.Drift[0], "unreachable") {
		t.Errorf("unreachable target: %q", f.Drift)
	}
	if len(f.Checks) == 0 || f.Checks[0].Level != "error" || !strings.Contains(f.Checks[0].Message, "binlog_format is STATEMENT") {
		t.Errorf("binlog_format check: %+v", f.Checks)
	}

	// A password variable that is not set is a refresh error, not a fact.
	desired.Tasks["shop"] = spec.Task{Name: "shop", Mode: spec.ModeAll, Sources: []string{"s1"}, Tables: []string{"rf.*"},
		Target: spec.Endpoint{Host: "127.0.0.1", Port: dst.Port, User: "root", Password: spec.Secret{Ref: "TGT_PW", Digest: h.Digest("TGT_PW", "x")}}}
	r = Gather(context.Background(), Input{Plan: plan, Current: current, Hasher: h, Getenv: getenv})
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "$TGT_PW is not set") {
		t.Errorf("errors: %q", r.Errors)
	}
}

// foreignKeyFacts: the foreign-key check's result is a fact of the plan
// (#17): the cascading keys the target reproduces, the one it cannot (a
// pre-created child table without the key) as a precheck error, the same
// accepted as lost, and nothing for mode full.
func foreignKeyFacts(t *testing.T, src, dst *mariadbtest.Server, in Input, source spec.Source) {
	exec(t, src, "CREATE DATABASE fk",
		"CREATE TABLE fk.parent (id INT PRIMARY KEY)",
		"CREATE TABLE fk.child (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES fk.parent (id) ON DELETE CASCADE)",
		"CREATE TABLE fk.note (id INT PRIMARY KEY, pid INT, CONSTRAINT note_parent FOREIGN KEY (pid) REFERENCES fk.parent (id) ON UPDATE SET NULL)")
	exec(t, dst, "CREATE DATABASE fk",
		"CREATE TABLE fk.child (id INT PRIMARY KEY, pid INT)") // pre-created without the key; fk.note is created by the load
	gather := func(mode spec.Mode, accept []string) planner.SubtaskFacts {
		t.Helper()
		task := spec.Task{Name: "fk", Mode: mode, Stage: spec.StageRunning, Sources: []string{"s1"}, Tables: []string{"fk.*"},
			Target: spec.Endpoint{Host: "127.0.0.1", Port: dst.Port, User: "root"}, AcceptLostCascades: accept}
		in.Plan = &planner.Plan{Desired: planner.State{Sources: map[string]spec.Source{"s1": source}, Tasks: map[string]spec.Task{"fk": task}},
			Changes: []planner.Change{{Kind: planner.KindSubtask, Name: "fk/s1", Action: planner.Create}}}
		in.Current = planner.State{}
		r := Gather(context.Background(), in)
		if len(r.Errors) != 0 || len(r.Subtasks) != 1 {
			t.Fatalf("refresh: %+v", r)
		}
		return r.Subtasks[0]
	}
	fkErrors := func(f planner.SubtaskFacts) []string {
		var out []string
		for _, c := range f.Checks {
			if strings.HasPrefix(c.Message, "foreign key ") {
				out = append(out, c.Level+": "+c.Message)
			}
		}
		return out
	}

	f := gather(spec.ModeAll, nil)
	if fk := f.ForeignKeys; fk == nil || fk.Cascading != 2 || fk.Unreproduced != 1 || len(fk.Accepted) != 0 {
		t.Fatalf("foreign keys: %+v", fk)
	}
	errs := fkErrors(f)
	if len(errs) != 1 || !strings.HasPrefix(errs[0], "error: foreign key `child_ibfk_1` of `fk`.`child` (pid) -> `fk`.`parent` (id) ON DELETE CASCADE") ||
		!strings.Contains(errs[0], "the target table `fk`.`child` has no such foreign key") || !strings.Contains(errs[0], "spec.acceptLostCascades") {
		t.Fatalf("foreign-key precheck errors: %q", errs)
	}

	f = gather(spec.ModeIncremental, []string{"fk.child"})
	if fk := f.ForeignKeys; fk == nil || fk.Cascading != 1 || fk.Unreproduced != 0 || strings.Join(fk.Accepted, ",") != "`fk`.`child`" {
		t.Fatalf("foreign keys, child accepted: %+v", fk)
	}
	if errs := fkErrors(f); len(errs) != 0 {
		t.Fatalf("accepted, yet: %q", errs)
	}

	if f := gather(spec.ModeFull, nil); f.ForeignKeys != nil || len(fkErrors(f)) != 0 {
		t.Fatalf("mode full replays no parent change, yet: %+v", f)
	}
}
