package planner

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dmplan/dmplan/spec"
	"github.com/google/go-cmp/cmp"
)

func TestDiffSameStateHasNoChanges(t *testing.T) {
	st := bigState(20, 50)
	ws := workers("agent-a", "agent-b", "agent-c")
	first := Diff(st, State{}, ws)
	if got := len(first.Changes); got == 0 {
		t.Fatal("a plan from an empty state has no changes")
	}
	again := Diff(first.Desired, first.Desired, ws)
	if again.HasChanges() {
		t.Fatalf("planning the applied state again gives %d changes, first %+v", len(again.Changes), again.Changes[0])
	}
}

// randomState builds a small random state from a fixed vocabulary, so that
// two random states share names and differ in fields.
func randomState(r *rand.Rand) State {
	st := State{Sources: map[string]spec.Source{}, Tasks: map[string]spec.Task{}, Bounds: map[string]string{}}
	var srcs []string
	for i := range 5 {
		if r.IntN(3) == 0 {
			continue
		}
		s := testSource(fmt.Sprintf("mysql-%02d", i))
		s.Port = 3306 + r.IntN(2)
		if r.IntN(4) == 0 {
			s.Worker = []string{"agent-a", "agent-x"}[r.IntN(2)]
		}
		if r.IntN(3) == 0 {
			s.Password.Digest = "other"
		}
		st.Sources[s.Name] = s
		srcs = append(srcs, s.Name)
		if r.IntN(2) == 0 {
			st.Bounds[s.Name] = []string{"agent-a", "agent-b", "agent-gone"}[r.IntN(3)]
		}
	}
	if len(srcs) == 0 {
		return st
	}
	for i := range 4 {
		if r.IntN(3) == 0 {
			continue
		}
		var use []string
		for _, s := range srcs {
			if r.IntN(2) == 0 {
				use = append(use, s)
			}
		}
		if len(use) == 0 {
			use = srcs[:1]
		}
		t := testTask(fmt.Sprintf("task-%d", i), use...)
		t.Mode = []spec.Mode{spec.ModeAll, spec.ModeFull, spec.ModeIncremental}[r.IntN(3)]
		t.Stage = []spec.Stage{spec.StageRunning, spec.StagePaused, spec.StageStopped}[r.IntN(3)]
		t.Target.Port = 4000 + r.IntN(2)
		t.Sync.Batch = 100 * (1 + r.IntN(2))
		if r.IntN(2) == 0 {
			t.Tables = append(t.Tables, "crm.refunds*")
		}
		if r.IntN(3) == 0 {
			t.Routes = []spec.Route{{From: "shop.orders_*", To: "shop.orders"}}
		}
		if r.IntN(3) == 0 {
			t.Start = map[string]spec.StartPos{use[0]: {GTID: fmt.Sprintf("0-1-%d", r.IntN(3))}}
		}
		st.Tasks[t.Name] = t
	}
	return st
}

func TestDiffRandomStates(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 200 {
		desired, current := randomState(r), randomState(r)
		ws := [][]Worker{nil, workers("agent-a"), workers("agent-a", "agent-b")}[r.IntN(3)]
		p := Diff(desired, current, ws)
		if !slices.IsSortedFunc(p.Changes, func(a, b Change) int {
			if d := kindRank(a.Kind) - kindRank(b.Kind); d != 0 {
				return d
			}
			return cmpStrings(a.Name, b.Name)
		}) {
			t.Fatalf("case %d: changes are not sorted", i)
		}
		for _, c := range p.Changes {
			if c.Action == Update && len(c.Fields) == 0 {
				t.Fatalf("case %d: %s.%s updates no field", i, c.Kind, c.Name)
			}
			if len(c.Impact) == 0 {
				t.Fatalf("case %d: %s.%s has no impact line", i, c.Kind, c.Name)
			}
		}
		if again := Diff(p.Desired, p.Desired, ws); again.HasChanges() {
			t.Fatalf("case %d: replanning the desired state gives changes: %+v", i, again.Changes)
		}
		if q := Diff(desired, current, ws); !cmp.Equal(p, q) {
			t.Fatalf("case %d: Diff is not deterministic: %s", i, cmp.Diff(p, q))
		}
	}
}

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestDiffDoesNotModifyInputs(t *testing.T) {
	desired := bigState(3, 4)
	desired.Bounds = map[string]string{"mysql-0000": "nobody"}
	current := bigState(3, 2)
	current.Bounds = map[string]string{"mysql-0001": "agent-b"}
	wantD, wantC := deepCopy(reflectValue(desired)).Interface(), deepCopy(reflectValue(current)).Interface()
	p := Diff(desired, current, workers("agent-a", "agent-b"))
	if diff := cmp.Diff(wantD, desired); diff != "" {
		t.Errorf("desired changed:\n%s", diff)
	}
	if diff := cmp.Diff(wantC, current); diff != "" {
		t.Errorf("current changed:\n%s", diff)
	}
	if got := p.Desired.Bounds["mysql-0001"]; got != "agent-b" {
		t.Errorf("a live bound moved to %q", got)
	}
	if _, ok := p.Desired.Bounds["mysql-0000"]; !ok || p.Desired.Bounds["mysql-0000"] == "nobody" {
		t.Errorf("desired bounds were not rescheduled: %v", p.Desired.Bounds)
	}
}

func TestDiffActions(t *testing.T) {
	ws := workers("agent-a")
	cur := State{
		Sources: map[string]spec.Source{"mysql-01": testSource("mysql-01")},
		Tasks:   map[string]spec.Task{"shop": testTask("shop", "mysql-01")},
		Bounds:  map[string]string{"mysql-01": "agent-a"},
	}
	type want struct {
		kind   Kind
		name   string
		action Action
	}
	tests := []struct {
		name   string
		change func(*spec.Task)
		want   []want
	}{
		{"stage only touches task and stage", func(t *spec.Task) { t.Stage = spec.StagePaused },
			[]want{{KindTask, "shop", Update}, {KindStage, "shop/mysql-01", Update}}},
		{"mode is a replace", func(t *spec.Task) { t.Mode = spec.ModeIncremental },
			[]want{{KindTask, "shop", Replace}, {KindSubtask, "shop/mysql-01", Replace}}},
		{"tuning is an update", func(t *spec.Task) { t.Sync.Workers = 16 },
			[]want{{KindTask, "shop", Update}, {KindSubtask, "shop/mysql-01", Update}}},
		{"target port is a replace", func(t *spec.Task) { t.Target.Port = 4001 },
			[]want{{KindTask, "shop", Replace}, {KindSubtask, "shop/mysql-01", Replace}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			desired := State{Sources: cur.Sources, Tasks: map[string]spec.Task{}}
			task := testTask("shop", "mysql-01")
			tt.change(&task)
			desired.Tasks["shop"] = task
			p := Diff(desired, cur, ws)
			var got []want
			for _, c := range p.Changes {
				got = append(got, want{c.Kind, c.Name, c.Action})
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSortIDsMatchesNames(t *testing.T) {
	// Names are DNS labels: they never hold a "/".
	ids := []SubtaskID{{"a-b", "x"}, {"a", "y"}, {"a", "x"}, {"a.b", "z"}, {"ab", "a"}, {"a0", "q"}, {"", "x"}}
	sortIDs(ids)
	var got []string
	for _, id := range ids {
		got = append(got, id.String())
	}
	if !slices.IsSorted(got) {
		t.Errorf("sortIDs order %q is not the order of the names", got)
	}
}
