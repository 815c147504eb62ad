package planner

import (
	"sort"
	"strconv"
	"strings"

	"github.com/dmplan/dmplan/spec"
)

// field is one leaf of an object as the plan shows it: a path such as
// "spec.target.port" and its rendered value. Secrets carry the Secret itself
// so that the diff can tell "reference changed" from "value changed" without
// ever rendering the digest.
type field struct {
	path     string
	value    string
	secret   spec.Secret
	isSecret bool
}

// The flatten functions list an object's fields in a fixed order. Optional
// fields that are unset are left out, so that setting one shows as
// (none) -> value. Lists are single leaves, rendered whole.

func sourceFields(s spec.Source) []field {
	f := appendEndpoint(make([]field, 0, 6), "spec.", s.Endpoint)
	if s.Flavor != "" {
		f = append(f, field{path: "spec.flavor", value: quote(string(s.Flavor))})
	}
	if s.Worker != "" {
		f = append(f, field{path: "spec.worker", value: quote(s.Worker)})
	}
	return f
}

func taskFields(t spec.Task) []field {
	f := make([]field, 0, 13+len(t.Start))
	f = append(f,
		field{path: "spec.mode", value: quoteMode(t.Mode)},
		field{path: "spec.stage", value: quoteStage(t.Stage)},
	)
	f = appendEndpoint(f, "spec.target.", t.Target)
	f = append(f, field{path: "spec.sources", value: renderList(t.Sources)})
	f = append(f, field{path: "spec.tables", value: renderList(t.Tables)})
	if len(t.Routes) > 0 {
		f = append(f, field{path: "spec.routes", value: renderRoutes(t.Routes)})
	}
	keys := make([]string, 0, len(t.Start))
	for k := range t.Start {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f = append(f, field{path: "spec.start." + k, value: renderStart(t.Start[k])})
	}
	return append(f,
		field{path: "spec.dump.threads", value: strconv.Itoa(t.Dump.Threads)},
		field{path: "spec.sync.workers", value: strconv.Itoa(t.Sync.Workers)},
		field{path: "spec.sync.batch", value: strconv.Itoa(t.Sync.Batch)},
	)
}

// subtaskFields leaves out the stage: it is its own object (KindStage).
func subtaskFields(s Subtask) []field {
	f := make([]field, 0, 11)
	f = append(f, field{path: "spec.mode", value: quoteMode(s.Mode)})
	f = appendEndpoint(f, "spec.target.", s.Target)
	f = append(f, field{path: "spec.tables", value: renderList(s.Tables)})
	if len(s.Routes) > 0 {
		f = append(f, field{path: "spec.routes", value: renderRoutes(s.Routes)})
	}
	if s.Start != nil {
		f = append(f, field{path: "spec.start", value: renderStart(*s.Start)})
	}
	return append(f,
		field{path: "spec.dump.threads", value: strconv.Itoa(s.Dump.Threads)},
		field{path: "spec.sync.workers", value: strconv.Itoa(s.Sync.Workers)},
		field{path: "spec.sync.batch", value: strconv.Itoa(s.Sync.Batch)},
	)
}

func appendEndpoint(f []field, prefix string, e spec.Endpoint) []field {
	f = append(f,
		field{path: prefix + "host", value: quote(e.Host)},
		field{path: prefix + "port", value: strconv.Itoa(e.Port)},
		field{path: prefix + "user", value: quote(e.User)},
	)
	if !e.Password.IsZero() {
		f = append(f, field{path: prefix + "password", value: e.Password.String(), secret: e.Password, isSecret: true})
	}
	return f
}

// createFields shows every field of a new object as (none) -> value.
func createFields(f []field) []FieldChange {
	out := make([]FieldChange, len(f))
	for i, x := range f {
		out[i] = FieldChange{Path: x.path, After: x.value}
	}
	return out
}

// diffFields compares two flattened objects. Both lists come from the same
// flatten function, so paths appear in the same relative order; a path only
// one side has is placed where its side lists it.
func diffFields(before, after []field) []FieldChange {
	var out []FieldChange
	i, j := 0, 0
	inAfter := make(map[string]bool, len(after))
	for _, f := range after {
		inAfter[f.path] = true
	}
	inBefore := make(map[string]int, len(before))
	for k, f := range before {
		inBefore[f.path] = k
	}
	for i < len(before) || j < len(after) {
		switch {
		case i < len(before) && !inAfter[before[i].path]:
			out = append(out, FieldChange{Path: before[i].path, Before: before[i].value})
			i++
		case j < len(after):
			a := after[j]
			j++
			k, ok := inBefore[a.path]
			if !ok {
				out = append(out, FieldChange{Path: a.path, After: a.value})
				continue
			}
			if k >= i {
				i = k + 1
			}
			if fc, changed := compareField(before[k], a); changed {
				out = append(out, fc)
			}
		default:
			i++
		}
	}
	return out
}

func compareField(b, a field) (FieldChange, bool) {
	if b.isSecret && a.isSecret {
		switch {
		case b.secret.Ref != a.secret.Ref:
			// References are variable names, not secrets.
			return FieldChange{Path: a.path, Before: b.value, After: a.value}, true
		case b.secret.Digest != a.secret.Digest:
			return FieldChange{Path: a.path, Sensitive: true}, true
		}
		return FieldChange{}, false
	}
	if b.value == a.value {
		return FieldChange{}, false
	}
	return FieldChange{Path: a.path, Before: b.value, After: a.value}, true
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
