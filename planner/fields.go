package planner

import (
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/dmplan/dmplan/spec"
)

// fields is an object flattened for the plan: each leaf a FieldChange with
// its path (such as "spec.target.port") and its rendered value in After.
// The object's password (each kind has at most one) is also kept whole, at
// secretPath, so that the diff can tell "reference changed" from "value
// changed" without ever rendering the digest.
type fields struct {
	list       []FieldChange
	secretPath string
	secret     spec.Secret
}

func (f *fields) add(path, value string) {
	f.list = append(f.list, FieldChange{Path: path, After: value})
}

// The flatten functions list an object's fields in a fixed order. Optional
// fields that are unset are left out, so that setting one shows as
// (none) -> value. Lists are single leaves, rendered whole.

func sourceFields(s spec.Source) fields {
	f := fields{list: make([]FieldChange, 0, 6+len(s.Annotations))}
	f.addAnnotations(s.Annotations)
	f.addEndpoint("spec.", s.Endpoint)
	if s.Flavor != "" {
		f.add("spec.flavor", quote(string(s.Flavor)))
	}
	if s.Worker != "" {
		f.add("spec.worker", quote(s.Worker))
	}
	if s.Relay != nil {
		f.add("spec.relay.enabled", strconv.FormatBool(s.Relay.Enabled))
		if s.Relay.Retain != "" {
			f.add("spec.relay.retain", quote(s.Relay.Retain))
		}
	}
	return f
}

func taskFields(t spec.Task) fields {
	f := fields{list: make([]FieldChange, 0, 13+len(t.Start)+len(t.Annotations))}
	f.addAnnotations(t.Annotations)
	f.add("spec.mode", quoteMode(t.Mode))
	f.add("spec.stage", quoteStage(t.Stage))
	f.addEndpoint("spec.target.", t.Target)
	f.add("spec.sources", renderList(t.Sources))
	f.add("spec.tables", renderList(t.Tables))
	if len(t.Routes) > 0 {
		f.add("spec.routes", renderRoutes(t.Routes))
	}
	if len(t.Start) > 0 {
		keys := make([]string, 0, len(t.Start))
		for k := range t.Start {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			f.add("spec.start."+k, renderStart(t.Start[k]))
		}
	}
	addRunFields(&f, subtaskOf(t, ""))
	return f
}

// subtaskFields leaves out the stage: it is its own object (KindStage).
func subtaskFields(s Subtask) fields {
	f := fields{list: make([]FieldChange, 0, 11)}
	f.add("spec.mode", quoteMode(s.Mode))
	f.addEndpoint("spec.target.", s.Target)
	f.add("spec.tables", renderList(s.Tables))
	if len(s.Routes) > 0 {
		f.add("spec.routes", renderRoutes(s.Routes))
	}
	if s.Start != nil {
		f.add("spec.start", renderStart(*s.Start))
	}
	addRunFields(&f, s)
	if len(s.ShardSources) > 0 {
		f.add("shard sources", renderList(s.ShardSources))
	}
	return f
}

// addAnnotations lists metadata.annotations, one field per key, sorted.
func (f *fields) addAnnotations(a map[string]string) {
	if len(a) == 0 {
		return
	}
	keys := slices.Sorted(maps.Keys(a))
	for _, k := range keys {
		f.add("metadata.annotations."+k, quote(a[k]))
	}
}

func (f *fields) addEndpoint(prefix string, e spec.Endpoint) {
	f.add(prefix+"host", quote(e.Host))
	f.add(prefix+"port", strconv.Itoa(e.Port))
	f.add(prefix+"user", quote(e.User))
	if !e.Password.IsZero() {
		f.secretPath, f.secret = prefix+"password", e.Password
		f.add(f.secretPath, e.Password.String())
	}
	if e.TLS != nil {
		f.add(prefix+"tls", renderTLS(*e.TLS))
	}
}

// renderTLS shows an endpoint's TLS as a flow mapping.
func renderTLS(t spec.TLS) string {
	parts := []string{"mode: " + string(t.Mode)}
	for _, kv := range [][2]string{{"ca", t.CA}, {"cert", t.Cert}, {"key", t.Key}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+": "+quote(kv[1]))
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// createFields shows every field of a new object as (none) -> value.
func createFields(f fields) []FieldChange { return f.list }

// diffFields compares two flattened objects. Both come from the same
// flatten function, so paths appear in the same relative order; a path only
// one side has is placed where its side lists it.
func diffFields(before, after fields) []FieldChange {
	var out []FieldChange
	b, a := before.list, after.list
	inAfter := make(map[string]bool, len(a))
	for _, f := range a {
		inAfter[f.Path] = true
	}
	inBefore := make(map[string]int, len(b))
	for k, f := range b {
		inBefore[f.Path] = k
	}
	i := 0
	for j := 0; i < len(b) || j < len(a); {
		switch {
		case i < len(b) && !inAfter[b[i].Path]:
			out = append(out, FieldChange{Path: b[i].Path, Before: b[i].After})
			i++
		case j < len(a):
			x := a[j]
			j++
			k, ok := inBefore[x.Path]
			if !ok {
				out = append(out, x)
				continue
			}
			if k >= i {
				i = k + 1
			}
			if fc, changed := compareField(before, b[k], after, x); changed {
				out = append(out, fc)
			}
		default:
			i++
		}
	}
	return out
}

func compareField(bo fields, b FieldChange, ao fields, a FieldChange) (FieldChange, bool) {
	if b.Path == bo.secretPath && a.Path == ao.secretPath {
		switch {
		case bo.secret.Ref != ao.secret.Ref:
			// References are variable names, not secrets.
			return FieldChange{Path: a.Path, Before: b.After, After: a.After}, true
		case bo.secret.Digest != ao.secret.Digest:
			return FieldChange{Path: a.Path, Sensitive: true}, true
		}
		return FieldChange{}, false
	}
	if b.After == a.After {
		return FieldChange{}, false
	}
	return FieldChange{Path: a.Path, Before: b.After, After: a.After}, true
}

func quote(s string) string { return strconv.Quote(s) }

// quoteMode is quote(string(m)) without allocating for the known modes.
func quoteMode(m spec.Mode) string {
	switch m {
	case spec.ModeAll:
		return `"all"`
	case spec.ModeFull:
		return `"full"`
	case spec.ModeIncremental:
		return `"incremental"`
	}
	return quote(string(m))
}

// renderList renders a list of strings as ["a", "b"].
func renderList(xs []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, x := range xs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(x))
	}
	b.WriteByte(']')
	return b.String()
}

func renderRoutes(rs []spec.Route) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, r := range rs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(routeString(r))
	}
	b.WriteByte(']')
	return b.String()
}

func routeString(r spec.Route) string {
	return strconv.Quote(r.From) + " -> " + strconv.Quote(r.To)
}

func renderStart(p spec.StartPos) string {
	var parts []string
	if p.GTID != "" {
		parts = append(parts, "gtid: "+strconv.Quote(p.GTID))
	}
	if p.BinlogFile != "" {
		parts = append(parts, "binlogFile: "+strconv.Quote(p.BinlogFile))
	}
	if p.BinlogPos != 0 {
		parts = append(parts, "binlogPos: "+strconv.FormatUint(uint64(p.BinlogPos), 10))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// addRunFields adds the fields a task and each of its subtasks share: how
// the units copy, sync, validate, filter and coordinate shard DDL.
func addRunFields(f *fields, s Subtask) {
	f.add("spec.dump.threads", strconv.Itoa(s.Dump.Threads))
	f.add("spec.sync.workers", strconv.Itoa(s.Sync.Workers))
	f.add("spec.sync.batch", strconv.Itoa(s.Sync.Batch))
	if len(s.AcceptLostCascades) > 0 {
		f.add("spec.acceptLostCascades", renderList(s.AcceptLostCascades))
	}
	if s.Validate.Mode != spec.ValidateNone {
		f.add("spec.validate.mode", quote(string(s.Validate.Mode)))
	}
	for i, r := range s.Filters {
		f.add("spec.filters["+strconv.Itoa(i)+"]", renderFilter(r))
	}
	if s.OnlineDDL.Key() != (spec.OnlineDDL{}).Key() {
		f.add("spec.onlineDDL", renderOnlineDDL(s.OnlineDDL))
	}
	addShard(f, s.ShardMode, s.ShardDDL)
}
