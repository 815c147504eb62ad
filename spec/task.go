package spec

import (
	"slices"
	"sort"

	"github.com/dmplan/dmplan/internal/tablefilter"
)

var (
	taskFields   = []string{"mode", "stage", "target", "sources", "tables", "routes", "start", "dump", "sync", "acceptLostCascades", "filters", "onlineDDL", "validate", "shardMode", "shardDDL"}
	targetFields = []string{"host", "port", "user", "password", "tls"}
)

// Ranges of the tuning fields.
const (
	maxDumpThreads = 64
	maxSyncWorkers = 256
	maxSyncBatch   = 10000
)

// sourceRef is one entry of a task's spec.sources, kept for the check that
// the Source exists, which needs every document.
type sourceRef struct {
	name  string
	index int
	at    pos
}

// task decodes the spec of a Task document doc. refs are its spec.sources.
func (d *decoder) task(doc *object, name string) (Task, []sourceRef) {
	t := Task{Name: name, Stage: StageRunning}
	o, ok := doc.child("spec", taskFields...)
	if !ok {
		return t, nil
	}
	t.Mode = d.mode(&o)
	if s := o.str("stage"); s != "" {
		switch Stage(s) {
		case StageRunning, StagePaused, StageStopped:
			t.Stage = Stage(s)
		default:
			d.errorf(o.valueAt("stage"), "spec.stage %q is not a stage (want running, paused or stopped)", s)
		}
	}
	if o.node("target") == nil {
		d.errorf(o.keyAt("target"), "spec.target is required")
	} else if to, ok := o.child("target", targetFields...); ok {
		t.Target = d.endpoint(&to)
	}
	refs := d.taskSources(&o, &t)
	t.Tables = d.tables(&o)
	t.Routes = d.routes(&o)
	t.Start = d.start(&o, t.Mode, refs)
	t.AcceptLostCascades = d.acceptLostCascades(&o)
	t.Filters = d.filters(&o, t.Tables)
	t.OnlineDDL = d.onlineDDL(&o)
	d.shardMode(&o, &t)

	if do, ok := o.child("dump", "threads"); ok {
		t.Dump.Threads = int(do.integer("threads", DefaultDumpThreads, 1, maxDumpThreads))
	}
	if so, ok := o.child("sync", "workers", "batch"); ok {
		t.Sync.Workers = int(so.integer("workers", DefaultSyncWorkers, 1, maxSyncWorkers))
		t.Sync.Batch = int(so.integer("batch", DefaultSyncBatch, 1, maxSyncBatch))
	}
	if vo, ok := o.child("validate", "mode"); ok {
		switch m := vo.str("mode"); ValidateMode(m) {
		case ValidateFast, ValidateFull:
			t.Validate.Mode = ValidateMode(m)
		case "", "none":
		default:
			d.errorf(vo.valueAt("mode"), "spec.validate.mode %q is not a validation mode (want none, fast or full)", m)
		}
	}
	return t, refs
}

// acceptLostCascades decodes spec.acceptLostCascades: table patterns
// without "!", canonical, in order.
func (d *decoder) acceptLostCascades(o *object) []string {
	var out []string
	for _, s := range o.strList("acceptLostCascades") {
		p, err := tablefilter.ParsePattern(s.value)
		if err != nil {
			d.errorf(s.at, "spec.acceptLostCascades[%d] %v", s.index, err)
			continue
		}
		if p.Exclude {
			d.errorf(s.at, "spec.acceptLostCascades[%d] %q: must not start with \"!\"; list the tables whose cascades may be lost", s.index, s.value)
			continue
		}
		out = append(out, p.String())
	}
	return out
}

func (d *decoder) mode(o *object) Mode {
	m := o.str("mode")
	switch Mode(m) {
	case ModeFull, ModeIncremental, ModeAll:
		return Mode(m)
	case "":
		if o.missing("mode") {
			d.errorf(o.keyAt("mode"), "spec.mode is required (full, incremental or all)")
		}
	default:
		d.errorf(o.valueAt("mode"), "spec.mode %q is not a mode (want full, incremental or all)", m)
	}
	return ""
}

// taskSources decodes spec.sources into t.Sources, sorted.
func (d *decoder) taskSources(o *object, t *Task) []sourceRef {
	if o.emptyList("sources") {
		d.errorf(o.valueAt("sources"), "spec.sources must name at least one Source")
	}
	items := o.strList("sources")
	refs := make([]sourceRef, 0, len(items))
	var seen map[string]bool // for long lists; short ones are searched
	if len(items) > 32 {
		seen = make(map[string]bool, len(items))
	}
	for _, s := range items {
		if err := CheckName(s.value); err != nil {
			d.errorf(s.at, "spec.sources[%d] %q is not a valid Source name: %v", s.index, s.value, err)
			continue
		}
		if seen[s.value] || seen == nil && slices.Contains(t.Sources, s.value) {
			d.errorf(s.at, "spec.sources[%d] %q is listed twice", s.index, s.value)
			continue
		}
		if seen != nil {
			seen[s.value] = true
		}
		refs = append(refs, sourceRef{name: s.value, index: s.index, at: s.at})
		t.Sources = append(t.Sources, s.value)
	}
	sort.Strings(t.Sources)
	return refs
}
