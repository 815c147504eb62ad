package planner

// FormatVersion is the version of the plan's JSON and plan-file format
// (docs/plan-format.md). Bump it on any incompatible change.
const FormatVersion = 1

// Action is what a change does. Its rune is the symbol shown in text plans.
type Action string

const (
	Create  Action = "create"  // +
	Update  Action = "update"  // ~ in place, units keep running (or are told)
	Replace Action = "replace" // -/+ cannot change in place: restart / re-dump
	Delete  Action = "delete"  // -
)

// Symbol is the one-character mark a text plan shows for the action.
func (a Action) Symbol() string {
	switch a {
	case Create:
		return "+"
	case Update:
		return "~"
	case Replace:
		return "-/+"
	case Delete:
		return "-"
	}
	return "?"
}

// Kind is the kind of object a change is about.
type Kind string

const (
	KindSource  Kind = "source"
	KindTask    Kind = "task"
	KindSubtask Kind = "subtask" // name is "task/source"
	KindStage   Kind = "stage"   // desired stage of a subtask, name "task/source"
	KindBound   Kind = "bound"   // source -> agent, name is the source
)

// FieldChange is one field's before -> after. Sensitive fields carry no
// values, only the fact that they changed.
type FieldChange struct {
	Path      string `json:"path"`             // e.g. "spec.tables", "spec.target.port"
	Before    string `json:"before,omitempty"` // rendered value; "" when created
	After     string `json:"after,omitempty"`
	Sensitive bool   `json:"sensitive,omitempty"`
}

// Change is one object's create/update/replace/delete, with what it will do
// to data and to running units.
type Change struct {
	Kind   Kind          `json:"kind"`
	Name   string        `json:"name"`
	Action Action        `json:"action"`
	Fields []FieldChange `json:"fields,omitempty"`
	Impact []string      `json:"impact,omitempty"`
}

// Plan is the result of Diff: data, rendered by the Render* functions and
// saved with WriteFile. Desired is the complete state apply writes, with
// bounds already scheduled. BaseRevision is the etcd revision of the state
// the plan was computed from; the caller (the store) sets it, and apply
// refuses the plan when the state has moved on.
type Plan struct {
	FormatVersion int   `json:"formatVersion"`
	BaseRevision  int64 `json:"baseRevision"`
	// GitCommit is the commit of the git work tree the desired state was
	// read from ("" when none), set by the caller for the apply history.
	GitCommit string   `json:"gitCommit,omitempty"`
	Changes   []Change `json:"changes"`
	Waiting   []string `json:"waiting,omitempty"` // sources with no live agent to serve them
	// Live lists what the agents report that differs from what was
	// applied (a subtask in error, one not yet at its desired stage), e.g.
	// "subtask shop/mysql-01: error: ...". The caller sets it; it is shown
	// with the plan but is not a change.
	Live []string `json:"live,omitempty"`
	// Rewrite lists the password references whose applied digests are in
	// the legacy form with an unchanged value (RewriteLegacyDigests):
	// applying the plan rewrites them, and that alone is a change to apply.
	Rewrite []string `json:"rewrite,omitempty"`
	Desired State    `json:"desired"`
	// Refresh is what `plan --refresh` read from the servers; nil without
	// the flag. The caller sets it. It is not saved in plan files.
	Refresh *Refresh `json:"-"`
}
