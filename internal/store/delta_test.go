package store

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
)

// deltaBase is a small state: two sources, two tasks, two agents.
func deltaBase() planner.State {
	src := func(n string) spec.Source {
		return spec.Source{Name: n, Endpoint: spec.Endpoint{Host: "127.0.0.1", Port: 3306, User: "dm"}}
	}
	task := func(n string, srcs ...string) spec.Task {
		return spec.Task{Name: n, Mode: spec.ModeAll, Stage: spec.StageRunning, Sources: srcs,
			Target: spec.Endpoint{Host: "127.0.0.1", Port: 4000, User: "root"}, Tables: []string{"shop.*"}}
	}
	return planner.State{
		Sources: map[string]spec.Source{"s1": src("s1"), "s2": src("s2")},
		Tasks:   map[string]spec.Task{"shop": task("shop", "s1"), "blog": task("blog", "s1", "s2")},
		Bounds:  map[string]string{"s1": "a", "s2": "b"},
	}
}

// TestDelta: an apply writes the objects that change and nothing else
// (+ a version, - a tombstone).
func TestDelta(t *testing.T) {
	p := "/dmplan/v1/"
	for _, tc := range []struct {
		name   string
		change func(st *planner.State)
		want   []string
	}{
		{"nothing", func(*planner.State) {}, nil},
		{"tables of one task", func(st *planner.State) {
			tk := st.Tasks["shop"]
			tk.Tables = []string{"shop.*", "!shop.tmp"}
			st.Tasks["shop"] = tk
		}, []string{"+" + p + "task/shop"}},
		{"pause a task on two sources", func(st *planner.State) {
			tk := st.Tasks["blog"]
			tk.Stage = spec.StagePaused
			st.Tasks["blog"] = tk
		}, []string{"+" + p + "task/blog"}},
		{"a task gains a source", func(st *planner.State) {
			tk := st.Tasks["shop"]
			tk.Sources = []string{"s1", "s2"}
			st.Tasks["shop"] = tk
		}, []string{"+" + p + "member/s2/shop", "+" + p + "task/shop"}},
		{"a task is deleted", func(st *planner.State) { delete(st.Tasks, "blog") },
			[]string{"-" + p + "member/s1/blog", "-" + p + "member/s2/blog", "-" + p + "task/blog"}},
		{"a new source, task and bound", func(st *planner.State) {
			st.Sources["s3"] = spec.Source{Name: "s3"}
			st.Tasks["news"] = spec.Task{Name: "news", Sources: []string{"s3"}}
			st.Bounds["s3"] = "a"
		}, []string{"+" + p + "bound/a/s3", "+" + p + "member/s3/news", "+" + p + "source/s3", "+" + p + "task/news"}},
		{"a bound moves", func(st *planner.State) { st.Bounds["s1"] = "b" },
			[]string{"-" + p + "bound/a/s1", "+" + p + "bound/b/s1"}},
		{"a source waits", func(st *planner.State) { delete(st.Bounds, "s2") }, []string{"-" + p + "bound/b/s2"}},
		{"a source config", func(st *planner.State) {
			s := st.Sources["s2"]
			s.Port = 3307
			st.Sources["s2"] = s
		}, []string{"+" + p + "source/s2"}},
		{"nil and empty lists are stored alike", func(st *planner.State) {
			tk := st.Tasks["shop"]
			tk.Routes = []spec.Route{}
			st.Tasks["shop"] = tk
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur, want := deltaBase(), deltaBase()
			tc.change(&want)
			kvs, err := delta(cur, want)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range kvs {
				mark := "+"
				if e.val == nil {
					mark = "-"
				}
				got = append(got, mark+e.key)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("delta:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if c := countsOf(want); tc.name == "nothing" && c != (Counts{Sources: 2, Tasks: 2, Members: 3, Bounds: 2}) {
				t.Errorf("counts %+v", c)
			}
		})
	}
}

// TestNewest: a reader takes each object's newest visible version; a
// tombstone hides the object; versions of open generations and of
// generations after the head's are not part of the state.
func TestNewest(t *testing.T) {
	g := func(n int) string { return genID(int64(n)) }
	type ver struct {
		obj string
		gen int
		val string
	}
	for _, tc := range []struct {
		name string
		head int
		open []int
		vers []ver
		want string
	}{
		{"one version", 5, nil, []ver{{"a", 5, "1"}}, "a=1"},
		{"newest wins", 9, nil, []ver{{"a", 5, "1"}, {"a", 7, "2"}}, "a=2"},
		{"after the head", 6, nil, []ver{{"a", 5, "1"}, {"a", 7, "2"}}, "a=1"},
		{"open", 9, []int{7}, []ver{{"a", 5, "1"}, {"a", 7, "2"}}, "a=1"},
		{"tombstone", 9, nil, []ver{{"a", 5, "1"}, {"a", 7, ""}, {"b", 3, "x"}}, "b=x"},
		{"tombstone of an open generation", 9, []int{7}, []ver{{"a", 5, "1"}, {"a", 7, ""}}, "a=1"},
		{"nothing applied", 0, nil, []ver{{"a", 5, "1"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vis := visibility{open: map[string]bool{}}
			if tc.head > 0 {
				vis.head = g(tc.head)
			}
			for _, o := range tc.open {
				vis.open[g(o)] = true
			}
			var got []string
			n := &newest{vis: vis, f: func(obj string, val []byte) error {
				got = append(got, fmt.Sprintf("%s=%s", obj[len(pfxTask):], val))
				return nil
			}}
			for _, v := range tc.vers {
				if err := n.add([]byte(versionKey(taskObj(v.obj), g(v.gen))), []byte(v.val)); err != nil {
					t.Fatal(err)
				}
			}
			if err := n.flush(); err != nil {
				t.Fatal(err)
			}
			if s := strings.Join(got, " "); s != tc.want {
				t.Errorf("got %q, want %q", s, tc.want)
			}
		})
	}
}
