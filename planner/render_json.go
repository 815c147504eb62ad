package planner

import (
	"encoding/json"
	"io"
)

// jsonPlan is the machine-readable plan printed by `dmplan plan -o json`
// (docs/plan-format.md). It leaves out the desired state: that holds secret
// digests, which no output shows.
type jsonPlan struct {
	FormatVersion int      `json:"formatVersion"`
	BaseRevision  int64    `json:"baseRevision"`
	Summary       Summary  `json:"summary"`
	Changes       []Change `json:"changes"`
	Waiting       []string `json:"waiting"`
	Live          []string `json:"live,omitempty"`
	Rewrite       []string `json:"rewrite,omitempty"`
	Refresh       *Refresh `json:"refresh,omitempty"` // plan --refresh only
}

// RenderJSON prints the plan as versioned JSON: formatVersion, the base
// revision, summary counts, the changes in plan order and
// the waiting sources. Lists are [] rather than null when empty.
func RenderJSON(w io.Writer, p *Plan) error {
	out := jsonPlan{
		FormatVersion: FormatVersion,
		BaseRevision:  p.BaseRevision,
		Summary:       p.Summary(),
		Changes:       p.Changes,
		Waiting:       p.Waiting,
		Live:          p.Live,
		Rewrite:       p.Rewrite,
		Refresh:       p.Refresh,
	}
	if out.Changes == nil {
		out.Changes = []Change{}
	}
	if out.Waiting == nil {
		out.Waiting = []string{}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
