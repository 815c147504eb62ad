package planner

import (
	"github.com/dmplan/dmplan/internal/binlogfilter"
	"github.com/dmplan/dmplan/internal/effect"
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
	return diff(State{Sources: maps.Clone(desired.Sources), Tasks: maps.Clone(desired.Tasks)}, current, workers)
}

// diff is Diff with desired's Sources and Tasks maps owned: they become
// the plan's (Desired), and Diff clones them for that. Diff never changes
// them.
func diff(desired, current State, workers []Worker) *Plan {
	bounds, waiting := Schedule(desired.Sources, current.Bounds, workers)
	want := State{
		Sources: desired.Sources,
		Tasks:   desired.Tasks,
		Bounds:  bounds,
	}
	if want.Sources == nil {
		want.Sources = map[string]spec.Source{}
	}
	if want.Tasks == nil {
		want.Tasks = map[string]spec.Task{}
	}
	d := newDiffer(want, current, workers, waiting)
	d.changedTasks = changedTasks(want.Tasks, current.Tasks)
	ids := d.unionIDs()
	// At most one change per object: size the slice once (for the tasks,
	// by those that differ: 100,000 unchanged tasks would be 20 MB).
	changes := make([]Change, 0, len(want.Sources)+len(current.Sources)+len(d.changedTasks)+
		2*len(ids)+len(want.Bounds)+len(current.Bounds))
	changes = d.sources(changes)
	changes = d.tasks(changes)
	changes = d.subtasks(changes, ids)
	changes = d.stages(changes, ids)
	changes = d.bounds(changes)
	sortChanges(changes)
	return &Plan{FormatVersion: FormatVersion, Changes: changes, Waiting: waiting, Desired: want}
}

// differ holds both states and the indexes the impact lines need.
type differ struct {
	want, cur State
	live      map[string]bool
	relayAt   map[string]bool // "agent/source": the live agent holds the source's relay directory
	waiting   map[string]bool
	// subtasks per source, sorted, built on first use
	wantBySource, curBySource map[string][]SubtaskID
	// slabs for the one-element slices of the many subtask and stage
	// changes of a large plan (see one and oneField)
	lineSlab  []string
	fieldSlab []FieldChange
	// every subtask by target and target pattern (ownership.go), built on first use
	tindex targetIndex
	// changedTasks are the tasks of either state that are not in both
	// with equal values, sorted (changedTasks)
	changedTasks []string
}

const slabSize = 1024

// one returns a one-line impact cut from a slab: a plan creating 20,000
// subtasks would otherwise allocate 40,000 tiny slices.
func (d *differ) one(line string) []string {
	if len(d.lineSlab) == 0 {
		d.lineSlab = make([]string, slabSize)
	}
	out := d.lineSlab[:1:1]
	d.lineSlab = d.lineSlab[1:]
	out[0] = line
	return out
}

// oneField is one for a single field change.
func (d *differ) oneField(f FieldChange) []FieldChange {
	if len(d.fieldSlab) == 0 {
		d.fieldSlab = make([]FieldChange, slabSize)
	}
	out := d.fieldSlab[:1:1]
	d.fieldSlab = d.fieldSlab[1:]
	out[0] = f
	return out
}

// quoteStage is quote(string(s)) without allocating for the known stages.
func quoteStage(s spec.Stage) string {
	switch s {
	case spec.StageRunning:
		return `"running"`
	case spec.StagePaused:
		return `"paused"`
	case spec.StageStopped:
		return `"stopped"`
	}
	return quote(string(s))
}

func newDiffer(want, cur State, workers []Worker, waiting []string) *differ {
	d := &differ{
		want: want, cur: cur,
		live: map[string]bool{}, waiting: map[string]bool{}, relayAt: map[string]bool{},
	}
	for _, w := range workers {
		d.live[w.Name] = true
		for _, src := range w.Relays {
			d.relayAt[w.Name+"/"+src] = true
		}
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
		case sourceEqual(c, w):
		default:
			if f := diffFields(sourceFields(c), sourceFields(w)); len(f) > 0 {
				impact := d.sourceUpdated(c, w)
				out = append(out, Change{Kind: KindSource, Name: name, Action: Update,
					Fields: f, Impact: append(impact, annotationLines(c.Annotations, w.Annotations, len(impact) == 0)...)})
			}
		}
	}
	return out
}

func (d *differ) tasks(out []Change) []Change {
	for _, name := range d.changedTasks {
		w, inWant := d.want.Tasks[name]
		c, inCur := d.cur.Tasks[name]
		switch {
		case !inCur:
			out = append(out, Change{Kind: KindTask, Name: name, Action: Create,
				Fields: createFields(taskFields(w)), Impact: d.taskCreated(w)})
		case !inWant:
			out = append(out, Change{Kind: KindTask, Name: name, Action: Delete, Impact: d.taskDeleted(c)})
		case taskEqual(c, w):
		default:
			if f := diffFields(taskFields(c), taskFields(w)); len(f) > 0 {
				action, impact := d.taskUpdated(c, w)
				impact = append(impact, annotationLines(c.Annotations, w.Annotations, len(impact) == 0)...)
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
		w, inWant := d.wantSubtask(id)
		c, inCur := d.curSubtask(id)
		switch {
		case !inCur:
			out = append(out, Change{Kind: KindSubtask, Name: id.String(), Action: Create, Impact: d.subtaskCreated(w)})
		case !inWant:
			out = append(out, Change{Kind: KindSubtask, Name: id.String(), Action: Delete, Impact: d.subtaskDeleted(c)})
		case subtaskEqual(c, w):
		default:
			if f := diffFields(subtaskFields(c), subtaskFields(w)); len(f) > 0 {
				eff := SubtaskEffect(c, w)
				action := Update
				if eff == effect.Fresh {
					action = Replace
				}
				impact := d.subtaskUpdated(c, w, eff)
				if eff == effect.Fresh {
					impact = append(impact, d.ownershipLines(c, w)...)
				}
				out = append(out, Change{Kind: KindSubtask, Name: id.String(), Action: action,
					Fields: f, Impact: impact})
			}
		}
	}
	return out
}

func (d *differ) stages(out []Change, ids []SubtaskID) []Change {
	for _, id := range ids {
		w, inWant := d.wantSubtask(id)
		c, inCur := d.curSubtask(id)
		switch {
		case !inCur:
			out = append(out, Change{Kind: KindStage, Name: id.String(), Action: Create,
				Fields: d.oneField(FieldChange{Path: "stage", After: quoteStage(w.Stage)}), Impact: d.stageCreated(w)})
		case !inWant:
			out = append(out, Change{Kind: KindStage, Name: id.String(), Action: Delete,
				Impact: d.one("removed with subtask " + id.String())})
		case c.Stage != w.Stage:
			out = append(out, Change{Kind: KindStage, Name: id.String(), Action: Update,
				Fields: d.oneField(FieldChange{Path: "stage", Before: quoteStage(c.Stage), After: quoteStage(w.Stage)}),
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
				Fields: d.oneField(FieldChange{Path: "agent", After: quote(w)}), Impact: d.boundCreated(name, w)})
		case !inWant:
			out = append(out, Change{Kind: KindBound, Name: name, Action: Delete,
				Fields: d.oneField(FieldChange{Path: "agent", Before: quote(c)}), Impact: d.boundDeleted(name, c)})
		case c != w:
			out = append(out, Change{Kind: KindBound, Name: name, Action: Update,
				Fields: d.oneField(FieldChange{Path: "agent", Before: quote(c), After: quote(w)}), Impact: d.boundMoved(name, c, w)})
		}
	}
	return out
}

// taskEqual and subtaskEqual are fast paths: most objects of a large plan
// are unchanged, and comparing is much cheaper than rendering fields.
// TestEveryFieldIsDiffed keeps them honest: a field they missed would show
// no change there.
func taskEqual(a, b spec.Task) bool {
	return a.Name == b.Name && maps.Equal(a.Annotations, b.Annotations) && a.Mode == b.Mode && a.Stage == b.Stage && endpointEqual(a.Target, b.Target) &&
		sliceEqual(a.Sources, b.Sources) && sliceEqual(a.Tables, b.Tables) &&
		sliceEqual(a.Routes, b.Routes) && maps.Equal(a.Start, b.Start) && a.Dump == b.Dump && a.Sync == b.Sync &&
		sliceEqual(a.AcceptLostCascades, b.AcceptLostCascades) && a.Validate == b.Validate &&
		binlogfilter.Key(a.Filters) == binlogfilter.Key(b.Filters) && a.OnlineDDL.Equal(b.OnlineDDL) &&
		shardKey(a.ShardMode, a.ShardDDL) == shardKey(b.ShardMode, b.ShardDDL)
}

// sliceEqual is slices.Equal that knows one backing array at once: the
// objects compared are most often one object's copies (a state read like
// the desired one, a map cloned to change one task).
func sliceEqual[E comparable](a, b []E) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 || &a[0] == &b[0] {
		return true
	}
	return slices.Equal(a, b)
}

func sourceEqual(a, b spec.Source) bool {
	return a.Name == b.Name && maps.Equal(a.Annotations, b.Annotations) && endpointEqual(a.Endpoint, b.Endpoint) &&
		a.Flavor == b.Flavor && a.Worker == b.Worker && relayEqual(a.Relay, b.Relay)
}

func relayEqual(a, b *spec.Relay) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// endpointEqual compares endpoints by value (TLS is a pointer).
func endpointEqual(a, b spec.Endpoint) bool {
	return a.Host == b.Host && a.Port == b.Port && a.User == b.User && a.Password == b.Password && tlsEqual(a.TLS, b.TLS)
}

// subtaskEqual compares the config, not the stage (its own object).
func subtaskEqual(a, b Subtask) bool {
	return a.Task == b.Task && a.Source == b.Source && a.Mode == b.Mode && endpointEqual(a.Target, b.Target) &&
		slices.Equal(a.Tables, b.Tables) && slices.Equal(a.Routes, b.Routes) && startEqual(a.Start, b.Start) &&
		a.Dump == b.Dump && a.Sync == b.Sync && slices.Equal(a.AcceptLostCascades, b.AcceptLostCascades) &&
		a.Validate == b.Validate &&
		binlogfilter.Key(a.Filters) == binlogfilter.Key(b.Filters) && a.OnlineDDL.Equal(b.OnlineDDL) &&
		shardKey(a.ShardMode, a.ShardDDL) == shardKey(b.ShardMode, b.ShardDDL) && slices.Equal(a.ShardSources, b.ShardSources)
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

// sortChanges sorts by kind, then name. Diff builds changes in that order
// already, so this is a check that costs one pass.
func sortChanges(cs []Change) {
	cmpChange := func(a, b Change) int {
		if r := kindRank(a.Kind) - kindRank(b.Kind); r != 0 {
			return r
		}
		return strings.Compare(a.Name, b.Name)
	}
	if !slices.IsSortedFunc(cs, cmpChange) {
		slices.SortStableFunc(cs, cmpChange)
	}
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

// changedTasks lists, sorted, the tasks that are in one of want and cur
// only, or in both with values that differ: all that the diff of tasks
// and subtasks looks at. Every other task is looked at once, here.
func changedTasks(want, cur map[string]spec.Task) []string {
	var out []string
	for name, w := range want {
		if c, ok := cur[name]; !ok || !taskEqual(w, c) {
			out = append(out, name)
		}
	}
	for name := range cur {
		if _, ok := want[name]; !ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// unionIDs lists the subtasks of both states that may have changed, sorted
// by name "task/source". A subtask's config and stage derive from its task
// alone, so the subtasks of an unchanged task are left out.
func (d *differ) unionIDs() []SubtaskID {
	tasks := slices.Clone(d.changedTasks)
	slices.SortFunc(tasks, compareWithSlash)
	var out []SubtaskID
	for _, name := range tasks {
		wt := d.want.Tasks[name]
		ct := d.cur.Tasks[name]
		w, c := wt.Sources, ct.Sources
		start := len(out)
		for _, s := range w {
			out = append(out, SubtaskID{name, s})
		}
		for _, s := range c {
			if !slices.Contains(w, s) {
				out = append(out, SubtaskID{name, s})
			}
		}
		part := out[start:]
		slices.SortFunc(part, func(x, y SubtaskID) int { return strings.Compare(x.Source, y.Source) })
		out = out[:start+len(slices.Compact(part))]
	}
	return out
}

// wantSubtask and curSubtask derive a subtask of the desired or current
// state; ok is false when the task does not run on that source.
func (d *differ) wantSubtask(id SubtaskID) (Subtask, bool) { return lookupSubtask(d.want, id) }
func (d *differ) curSubtask(id SubtaskID) (Subtask, bool)  { return lookupSubtask(d.cur, id) }

func lookupSubtask(s State, id SubtaskID) (Subtask, bool) {
	t, ok := s.Tasks[id.Task]
	if !ok || !slices.Contains(t.Sources, id.Source) {
		return Subtask{}, false
	}
	return subtaskOf(t, id.Source), true
}

// sortIDs sorts subtask ids by their name "task/source".
func sortIDs(ids []SubtaskID) {
	slices.SortFunc(ids, func(x, y SubtaskID) int {
		// Compare x.Task+"/"+x.Source with y's without building them.
		if x.Task == y.Task {
			return strings.Compare(x.Source, y.Source)
		}
		return compareWithSlash(x.Task, y.Task)
	})
}

// compareWithSlash compares a+"/" with b+"/" without building them.
func compareWithSlash(a, b string) int {
	n := min(len(a), len(b))
	if c := strings.Compare(a[:n], b[:n]); c != 0 {
		return c
	}
	switch {
	case len(a) == len(b):
		return 0
	case len(a) < len(b):
		return cmpByte('/', b[n])
	}
	return cmpByte(a[n], '/')
}

func cmpByte(a, b byte) int { return int(a) - int(b) }

// subtasksOf lists a source's subtasks in the desired (want) or current state.
func (d *differ) subtasksOf(source string, want bool) []SubtaskID {
	idx, st := &d.curBySource, d.cur
	if want {
		idx, st = &d.wantBySource, d.want
	}
	if *idx == nil {
		m := map[string][]SubtaskID{}
		for _, t := range st.Tasks {
			for _, src := range t.Sources {
				m[src] = append(m[src], SubtaskID{t.Name, src})
			}
		}
		for _, ids := range m {
			sortIDs(ids)
		}
		*idx = m
	}
	return (*idx)[source]
}
