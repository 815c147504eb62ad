package planner

import (
	"fmt"
	"strconv"
	"strings"
)

// Refresh is what `dmplan plan --refresh` read from the servers, read-only,
// for the subtasks a plan's changes involve: the tables a change newly
// selects or deselects, the prechecks apply would meet, and drift. The
// caller gathers it (the planner does no I/O) and sets Plan.Refresh; it is
// shown with the plan, is not a change, and is never saved in a plan file.
type Refresh struct {
	Subtasks []SubtaskFacts `json:"subtasks"`
	// Errors are failures of the refresh itself (e.g. a password variable
	// it could not read): the facts are incomplete.
	Errors []string `json:"errors,omitempty"`
}

// SubtaskFacts are one subtask's facts, "task/source".
type SubtaskFacts struct {
	Subtask    string       `json:"subtask"`
	Selected   []TableFacts `json:"selected,omitempty"`   // newly selected by the change
	Deselected []TableFacts `json:"deselected,omitempty"` // no longer selected
	// CopySeconds estimates the copy of Selected at the measured rate
	// (CopyRate rows/s); 0 when the mode copies nothing.
	CopySeconds float64 `json:"copySeconds,omitempty"`
	CopyRate    float64 `json:"copyRate,omitempty"`
	Checks      []Check `json:"checks,omitempty"`
	// ForeignKeys is the result of the foreign-key check (the units'
	// precheck): nil when the selected tables have no cascading foreign
	// key, or the check did not run (mode full, target unreachable).
	ForeignKeys *ForeignKeyFacts `json:"foreignKeys,omitempty"`
	// Drift: a target table whose columns differ from its source's, a
	// source or target that cannot be reached.
	Drift []string `json:"drift,omitempty"`
}

// ForeignKeyFacts says whether the target reproduces the cascades of the
// source's foreign keys (docs/units.md, "Foreign keys"). The keys it
// cannot reproduce are precheck errors (Checks), named there.
type ForeignKeyFacts struct {
	Cascading    int      `json:"cascading"`              // cascading keys checked: child table selected, not accepted
	Unreproduced int      `json:"unreproduced,omitempty"` // of those, the keys the target cannot reproduce
	Accepted     []string `json:"accepted,omitempty"`     // child tables whose cascades the task accepts losing
}

// line is the fact as one line.
func (f *ForeignKeyFacts) line() string {
	keys := fmt.Sprintf("%d cascading foreign keys", f.Cascading)
	if f.Cascading == 1 {
		keys = "1 cascading foreign key"
	}
	var parts []string
	switch {
	case f.Unreproduced > 0:
		parts = append(parts, fmt.Sprintf("%s of the selected tables, %d the target cannot reproduce (precheck error): the subtask would stop", keys, f.Unreproduced))
	case f.Cascading > 0:
		parts = append(parts, keys+" of the selected tables, all reproduced by the target (sync applies their tables in order, with foreign_key_checks=1)")
	}
	if len(f.Accepted) > 0 {
		parts = append(parts, "cascades to "+strings.Join(f.Accepted, ", ")+" accepted as lost (spec.acceptLostCascades): not checked")
	}
	return strings.Join(parts, "; ")
}

// TableFacts is one source table with information_schema's estimates.
type TableFacts struct {
	Table  string `json:"table"`            // source db.table
	Target string `json:"target,omitempty"` // routed target db.table, when it differs
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
}

// Check is one precheck result: Message says what is wrong and what to do.
type Check struct {
	Level   string `json:"level"` // "error" (apply's units would stop) or "warning"
	Message string `json:"message"`
}

// HasErrors reports whether any subtask would fail a precheck.
func (r *Refresh) HasErrors() bool {
	for _, s := range r.Subtasks {
		for _, c := range s.Checks {
			if c.Level == "error" {
				return true
			}
		}
	}
	return false
}

// refreshLines renders the refresh for text and markdown: one header line
// per subtask, then indented fact lines.
func refreshLines(r *Refresh) []string {
	var out []string
	for _, s := range r.Subtasks {
		out = append(out, "subtask "+s.Subtask)
		if len(s.Selected) > 0 {
			line := "  tables newly selected: " + tablesSummary(s.Selected)
			if s.CopySeconds > 0 {
				line += fmt.Sprintf("; copy about %s at %s rows/s", humanSeconds(s.CopySeconds), humanCount(int64(s.CopyRate)))
			}
			out = append(out, line)
			for _, t := range s.Selected {
				out = append(out, "    + "+tableLine(t))
			}
		}
		if len(s.Deselected) > 0 {
			out = append(out, "  tables no longer selected: "+tablesSummary(s.Deselected))
			for _, t := range s.Deselected {
				out = append(out, "    - "+tableLine(t))
			}
		}
		if s.ForeignKeys != nil {
			out = append(out, "  foreign keys: "+s.ForeignKeys.line())
		}
		for _, c := range s.Checks {
			out = append(out, "  precheck "+c.Level+": "+c.Message)
		}
		for _, d := range s.Drift {
			out = append(out, "  drift: "+d)
		}
		if len(s.Selected)+len(s.Deselected)+len(s.Checks)+len(s.Drift) == 0 && s.ForeignKeys == nil {
			out = append(out, "  no tables newly selected or deselected, prechecks pass, no drift")
		}
	}
	return out
}

func tablesSummary(ts []TableFacts) string {
	var rows, bytes int64
	for _, t := range ts {
		rows += t.Rows
		bytes += t.Bytes
	}
	return fmt.Sprintf("%d (about %s rows, %s)", len(ts), humanCount(rows), humanBytes(bytes))
}

func tableLine(t TableFacts) string {
	s := t.Table
	if t.Target != "" {
		s += " -> " + t.Target
	}
	return s + fmt.Sprintf(": about %s rows, %s", humanCount(t.Rows), humanBytes(t.Bytes))
}

// humanCount prints 1234567 as 1,234,567.
func humanCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}

func humanSeconds(s float64) string {
	switch {
	case s < 1:
		return "1s"
	case s < 120:
		return fmt.Sprintf("%.0fs", s)
	case s < 7200:
		return fmt.Sprintf("%.0fm", s/60)
	}
	return fmt.Sprintf("%.1fh", s/3600)
}

// renderRefreshText prints the refresh section of a text plan.
func renderRefreshText(t *textWriter, r *Refresh) {
	if r == nil {
		return
	}
	t.raw("\n")
	t.str("Refreshed from the servers (read-only; not changes):", ansiBold)
	t.raw("\n")
	if len(r.Subtasks) == 0 && len(r.Errors) == 0 {
		t.line("  no subtask is involved in a change")
	}
	for _, l := range refreshLines(r) {
		color := ""
		switch {
		case strings.HasPrefix(l, "  precheck error"):
			color = ansiRed
		case strings.HasPrefix(l, "  precheck warning"), strings.HasPrefix(l, "  drift"):
			color = ansiYellow
		}
		t.str("  "+l, color)
		t.raw("\n")
	}
	if len(r.Errors) > 0 {
		t.raw("\n")
		t.str("Refresh errors (the facts above are incomplete):", ansiRed)
		t.raw("\n")
		for _, e := range r.Errors {
			t.line("  " + e)
		}
	}
}
