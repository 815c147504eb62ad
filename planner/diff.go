package planner

import (
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/dmplan/dmplan/spec"
)

// Diff computes the plan that turns current into desired. desired.Bounds is
// ignored: bounds are scheduled with Schedule against the live workers,
// keeping current.Bounds where they are still valid. Plan.Desired is the
// complete state apply writes. Changes are sorted by kind (source, task,
// subtask, stage, bound) and then by name; unchanged objects produce no
// change, so Diff(p.Desired, p.Desired, workers) has no changes.
func Diff(desired, current State, workers []Worker) *Plan {
	bounds, waiting := Schedule(desired.Sources, current.Bounds, workers)
	want := State{
		Sources: maps.Clone(desired.Sources),
		Tasks:   maps.Clone(desired.Tasks),
		Bounds:  bounds,
	}
	if want.Sources == nil {
		want.Sources = map[string]spec.Source{}
	}
	if want.Tasks == nil {
		want.Tasks = map[string]spec.Task{}
	}
	d := newDiffer(want, current, workers, waiting)
	changes := make([]Change, 0)
	changes = d.sources(changes)
	changes = d.tasks(changes)
	ids := unionIDs(d.wantSub, d.curSub)
	changes = d.subtasks(changes, ids)
	changes = d.stages(changes, ids)
	changes = d.bounds(changes)
	sortChanges(changes)
	return &Plan{FormatVersion: FormatVersion, Changes: changes, Waiting: waiting, Desired: want}
}

// differ holds both states and the indexes the impact lines need.
type differ struct {
	want, cur       State
	wantSub, curSub map[SubtaskID]Subtask
	live            map[string]bool
	waiting         map[string]bool
	// subtasks per source, sorted, built on first use
	wantBySource, curBySource map[string][]SubtaskID
}

func newDiffer(want, cur State, workers []Worker, waiting []string) *differ {
	d := &differ{
		want: want, cur: cur,
		wantSub: want.Subtasks(), curSub: cur.Subtasks(),
		live: map[string]bool{}, waiting: map[string]bool{},
	}
	for _, w := range workers {
		d.live[w.Name] = true
	}
	for _, s := range waiting {
		d.waiting[s] = true
	}
	return d
}

func (d *differ) sources(out []Change) []Change {
	for _, name := range unionKeys(d.want.Sources, d.cur.Sources) {
		w, inWant := d.want.Sources[name]
		c, inCur := d.cur.Sources[name]
		switch {
		case !inCur:
			out = append(out, Change{Kind: KindSource, Name: name, Action: Create,
				Fields: createFields(sourceFields(w)), Impact: d.sourceCreated(w)})
		case !inWant:
			out = append(out, Change{Kind: KindSource, Name: name, Action: Delete, Impact: d.sourceDeleted(c)})
		default:
			if f := diffFields(sourceFields(c), sourceFields(w)); len(f) > 0 {
				out = append(out, Change{Kind: KindSource, Name: name, Action: Update,
					Fields: f, Impact: d.sourceUpdated(c, w)})
			}
		}
	}
	return out
}

func (d *differ) tasks(out []Change) []Change {
	for _, name := range unionKeys(d.want.Tasks, d.cur.Tasks) {
		w, inWant := d.want.Tasks[name]
		c, inCur := d.cur.Tasks[name]
		switch {
		case !inCur:
			out = append(out, Change{Kind: KindTask, Name: name, Action: Create,
				Fields: createFields(taskFields(w)), Impact: d.taskCreated(w)})
		case !inWant:
			out = append(out, Change{Kind: KindTask, Name: name, Action: Delete, Impact: d.taskDeleted(c)})
		default:
			if f := diffFields(taskFields(c), taskFields(w)); len(f) > 0 {
				action, impact := d.taskUpdated(c, w)
				out = append(out, Change{Kind: KindTask, Name: name, Action: action, Fields: f, Impact: impact})
			}
		}
	}
	return out
}

// subtasks lists creates and deletes without fields (a subtask is derived
// from its task, whose change shows them) and updates with their fields.
func (d *differ) subtasks(out []Change, ids []SubtaskID) []Change {
	for _, id := range ids {
		w, inWant := d.wantSub[id]
		c, inCur := d.curSub[id]
		switch {
		case !inCur:
			out = append(out, Change{Kind: KindSubtask, Name: id.String(), Action: Create, Impact: d.subtaskCreated(w)})
		case !inWant:
			out = append(out, Change{Kind: KindSubtask, Name: id.String(), Action: Delete, Impact: d.subtaskDeleted(c)})
		default:
			if f := diffFields(subtaskFields(c), subtaskFields(w)); len(f) > 0 {
				eff := SubtaskEffect(c, w)
				action := Update
				if eff == EffectFresh {
					action = Replace
				}
				out = append(out, Change{Kind: KindSubtask, Name: id.String(), Action: action,
					Fields: f, Impact: d.subtaskUpdated(c, w, eff)})
			}
		}
	}
	return out
}

func (d *differ) stages(out []Change, ids []SubtaskID) []Change {
	for _, id := range ids {
		w, inWant := d.wantSub[id]
		c, inCur := d.curSub[id]
		switch {
		case !inCur:
			out = append(out, Change{Kind: KindStage, Name: id.String(), Action: Create,
				Fields: []FieldChange{{Path: "stage", After: quote(string(w.Stage))}}, Impact: d.stageCreated(w)})
		case !inWant:
			out = append(out, Change{Kind: KindStage, Name: id.String(), Action: Delete,
				Impact: []string{"removed with subtask " + id.String()}})
		case c.Stage != w.Stage:
			out = append(out, Change{Kind: KindStage, Name: id.String(), Action: Update,
				Fields: []FieldChange{{Path: "stage", Before: quote(string(c.Stage)), After: quote(string(w.Stage))}},
				Impact: d.stageUpdated(c, w)})
		}
	}
	return out
}

func (d *differ) bounds(out []Change) []Change {
	for _, name := range unionKeys(d.want.Bounds, d.cur.Bounds) {
		w, inWant := d.want.Bounds[name]
		c, inCur := d.cur.Bounds[name]
		switch {
		case !inCur:
			out = append(out, Change{Kind: KindBound, Name: name, Action: Create,
				Fields: []FieldChange{{Path: "agent", After: quote(w)}}, Impact: d.boundCreated(name, w)})
		case !inWant:
			out = append(out, Change{Kind: KindBound, Name: name, Action: Delete,
				Fields: []FieldChange{{Path: "agent", Before: quote(c)}}, Impact: d.boundDeleted(name, c)})
		case c != w:
			out = append(out, Change{Kind: KindBound, Name: name, Action: Update,
				Fields: []FieldChange{{Path: "agent", Before: quote(c), After: quote(w)}}, Impact: d.boundMoved(name, c, w)})
		}
	}
	return out
}

// kindRank orders changes: sources first, bounds last.
func kindRank(k Kind) int {
	switch k {
	case KindSource:
		return 0
	case KindTask:
		return 1
	case KindSubtask:
		return 2
	case KindStage:
		return 3
	case KindBound:
		return 4
	}
	return 5
}

func sortChanges(cs []Change) {
	sort.SliceStable(cs, func(i, j int) bool {
		ri, rj := kindRank(cs[i].Kind), kindRank(cs[j].Kind)
		if ri != rj {
			return ri < rj
		}
		return cs[i].Name < cs[j].Name
	})
}

func unionKeys[V any](a, b map[string]V) []string {
	out := make([]string, 0, len(a)+len(b))
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func unionIDs(a, b map[SubtaskID]Subtask) []SubtaskID {
	out := make([]SubtaskID, 0, len(a)+len(b))
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sortIDs(out)
	return out
}

// sortIDs sorts subtask ids by their name "task/source".
func sortIDs(ids []SubtaskID) {
	type named struct {
		id   SubtaskID
		name string
	}
	ns := make([]named, len(ids))
	for i, id := range ids {
		ns[i] = named{id, id.String()}
	}
	slices.SortFunc(ns, func(x, y named) int { return strings.Compare(x.name, y.name) })
	for i := range ns {
		ids[i] = ns[i].id
	}
}

// subtasksOf lists a source's subtasks in the desired (want) or current state.
func (d *differ) subtasksOf(source string, want bool) []SubtaskID {
	idx := &d.curBySource
	subs := d.curSub
	if want {
		idx, subs = &d.wantBySource, d.wantSub
	}
	if *idx == nil {
		m := map[string][]SubtaskID{}
		for id := range subs {
			m[id.Source] = append(m[id.Source], id)
		}
		for _, ids := range m {
			sortIDs(ids)
		}
		*idx = m
	}
	return (*idx)[source]
}
