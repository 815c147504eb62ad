package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Status is a table's outcome.
type Status string

const (
	StatusEqual   Status = "equal"
	StatusDiffer  Status = "differ"
	StatusError   Status = "error"
	StatusSkipped Status = "skipped"
	// StatusUnsettled: no row differs, but some rows changed during every
	// check and could not be verified: run verify again.
	StatusUnsettled Status = "unsettled"
)

// Kind is how a row differs.
type Kind string

const (
	KindMissing Kind = "missing" // on the target
	KindExtra   Kind = "extra"   // on the target only
	KindChanged Kind = "changed" // some columns differ
	// KindUnsettled: the row changed on the source during every check, so
	// it could be compared with no state of the source: not verified.
	KindUnsettled Kind = "unsettled"
)

// RowDiff is one row that still differed after every re-check.
type RowDiff struct {
	Kind    Kind     `json:"kind"`
	Key     []string `json:"key"`               // "column=value"; every column for a table without a key
	Columns []string `json:"columns,omitempty"` // changed: the columns that differ
	Source  string   `json:"source,omitempty"`  // source:db.table the row comes from
	order   int
}

// TableResult is one target table's comparison.
type TableResult struct {
	Table       string    `json:"table"`   // target db.table
	Sources     []string  `json:"sources"` // source:db.table, sorted
	Status      Status    `json:"status"`
	Key         []string  `json:"key,omitempty"`
	Keyless     bool      `json:"keyless,omitempty"`
	Chunks      int       `json:"chunks"`
	Rechecked   int       `json:"rechecked"` // chunks that differed at first and were checked again
	Missing     int64     `json:"missing"`
	Extra       int64     `json:"extra"`
	Changed     int64     `json:"changed"`
	Unsettled   int64     `json:"unsettled,omitempty"` // rows not verified: they changed during every check
	Rows        []RowDiff `json:"rows,omitempty"`      // the first MaxRows
	RowsOmitted int64     `json:"rowsOmitted,omitempty"`
	Notes       []string  `json:"notes,omitempty"`
	Error       string    `json:"error,omitempty"`
}

// Report is a whole comparison.
type Report struct {
	Task    string        `json:"task"`
	Tables  []TableResult `json:"tables"`
	Rows    int64         `json:"rowsCompared"` // source rows checksummed
	Elapsed time.Duration `json:"-"`
}

// Outcome is 0 when every table is equal, 2 when some differ, 1 when
// some could not be compared or verified (an error wins over a difference).
func (r *Report) Outcome() int {
	code := 0
	for _, t := range r.Tables {
		switch t.Status {
		case StatusError, StatusUnsettled:
			return 1
		case StatusDiffer:
			code = 2
		}
	}
	return code
}

// Counts returns how many tables have each status.
func (r *Report) Counts() map[Status]int {
	out := map[Status]int{}
	for _, t := range r.Tables {
		out[t.Status]++
	}
	return out
}

// jsonReport is the versioned machine format (docs/verify.md).
type jsonReport struct {
	FormatVersion string        `json:"formatVersion"`
	Task          string        `json:"task"`
	Result        string        `json:"result"` // equal | differ | error
	Summary       jsonSummary   `json:"summary"`
	Tables        []TableResult `json:"tables"`
}

type jsonSummary struct {
	Tables       int   `json:"tables"`
	Equal        int   `json:"equal"`
	Differ       int   `json:"differ"`
	Errors       int   `json:"errors"`
	Unsettled    int   `json:"unsettled"`
	Skipped      int   `json:"skipped"`
	RowsCompared int64 `json:"rowsCompared"`
}

func (r *Report) result() string {
	switch r.Outcome() {
	case 1:
		return "error"
	case 2:
		return "differ"
	}
	return "equal"
}

// RenderJSON writes the report as JSON (formatVersion "1").
func RenderJSON(w io.Writer, r *Report) error {
	c := r.Counts()
	out := jsonReport{FormatVersion: "1", Task: r.Task, Result: r.result(), Tables: r.Tables,
		Summary: jsonSummary{Tables: len(r.Tables), Equal: c[StatusEqual], Differ: c[StatusDiffer], Errors: c[StatusError], Unsettled: c[StatusUnsettled],
			Skipped: c[StatusSkipped], RowsCompared: r.Rows}}
	if out.Tables == nil {
		out.Tables = []TableResult{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// RenderText writes the report for people.
func RenderText(w io.Writer, r *Report) error {
	var b strings.Builder
	for _, t := range r.Tables {
		fmt.Fprintf(&b, "%-7s %s", t.Status, t.Table)
		if len(t.Sources) > 0 {
			fmt.Fprintf(&b, " <- %s", strings.Join(t.Sources, ", "))
		}
		b.WriteString("\n")
		if t.Status == StatusDiffer && t.Missing+t.Extra+t.Changed > 0 {
			fmt.Fprintf(&b, "        %d missing on the target, %d extra on the target, %d changed\n", t.Missing, t.Extra, t.Changed)
		}
		if t.Unsettled > 0 {
			fmt.Fprintf(&b, "        %d rows changed on the source during every check: not verified, run verify again\n", t.Unsettled)
		}
		for _, d := range t.Rows {
			fmt.Fprintf(&b, "        %-7s %s%s\n", d.Kind, strings.Join(d.Key, ", "), rowDetail(d))
		}
		if t.RowsOmitted > 0 {
			fmt.Fprintf(&b, "        ... and %d more rows (all of them in --fix-sql and -o json)\n", t.RowsOmitted)
		}
		for _, n := range t.Notes {
			fmt.Fprintf(&b, "        note: %s\n", n)
		}
		if t.Error != "" {
			fmt.Fprintf(&b, "        error: %s\n", t.Error)
		}
	}
	b.WriteString("\n" + summaryLine(r) + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func rowDetail(d RowDiff) string {
	var parts []string
	if len(d.Columns) > 0 {
		parts = append(parts, "columns "+strings.Join(d.Columns, ", "))
	}
	if d.Source != "" {
		parts = append(parts, "from "+d.Source)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

func summaryLine(r *Report) string {
	c := r.Counts()
	var verdict string
	switch r.Outcome() {
	case 0:
		verdict = "Equal"
	case 2:
		verdict = "Different"
	default:
		verdict = "Not verified"
	}
	line := fmt.Sprintf("%s: %d tables, %d equal, %d differ, %d errors", verdict, len(r.Tables), c[StatusEqual], c[StatusDiffer], c[StatusError])
	if c[StatusUnsettled] > 0 {
		line += fmt.Sprintf(", %d unsettled", c[StatusUnsettled])
	}
	if c[StatusSkipped] > 0 {
		line += fmt.Sprintf(", %d skipped", c[StatusSkipped])
	}
	return line + fmt.Sprintf("; %d source rows compared.", r.Rows)
}

// RenderMarkdown writes the report for a pull request comment.
func RenderMarkdown(w io.Writer, r *Report) error {
	var b strings.Builder
	icon := map[int]string{0: "✅", 1: "⚠️", 2: "❌"}[r.Outcome()]
	fmt.Fprintf(&b, "### %s `dmplan verify %s`\n\n%s\n\n", icon, r.Task, summaryLine(r))
	if len(r.Tables) > 0 {
		b.WriteString("| table | sources | result | missing | extra | changed |\n|---|---|---|---:|---:|---:|\n")
		for _, t := range r.Tables {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %d | %d | %d |\n", t.Table, mdCode(t.Sources), t.Status, t.Missing, t.Extra, t.Changed)
		}
	}
	for _, t := range r.Tables {
		if len(t.Rows) == 0 && len(t.Notes) == 0 && t.Error == "" {
			continue
		}
		fmt.Fprintf(&b, "\n<details><summary><code>%s</code>: %s</summary>\n\n", t.Table, t.Status)
		for _, d := range t.Rows {
			fmt.Fprintf(&b, "- %s `%s`%s\n", d.Kind, strings.Join(d.Key, ", "), rowDetail(d))
		}
		if t.RowsOmitted > 0 {
			fmt.Fprintf(&b, "- … and %d more rows\n", t.RowsOmitted)
		}
		for _, n := range t.Notes {
			fmt.Fprintf(&b, "- note: %s\n", n)
		}
		if t.Error != "" {
			fmt.Fprintf(&b, "- error: %s\n", t.Error)
		}
		b.WriteString("\n</details>\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdCode(items []string) string {
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = "`" + s + "`"
	}
	return strings.Join(out, ", ")
}
