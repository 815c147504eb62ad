package statusview

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// TextOptions change how the text view looks.
type TextOptions struct {
	Bars bool // draw progress bars (on a terminal)
}

// RenderJSON writes the view as indented JSON (docs/status-format.md).
func RenderJSON(w io.Writer, v View) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// RenderText writes the view for people: sources, subtasks, agents and the
// last applies, in tables.
func RenderText(w io.Writer, v View, opts TextOptions) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if v.Revision == 0 && len(v.Sources) == 0 {
		fmt.Fprintln(tw, "Nothing applied yet: run \"dmplan plan -f DIR\" then \"dmplan apply -f DIR\".")
	}
	if len(v.Sources) > 0 {
		fmt.Fprintln(tw, "SOURCE\tADDRESS\tBOUND TO\tPINNED")
		for _, s := range v.Sources {
			bound := s.Worker
			if s.Waiting {
				bound = "(waiting for an agent)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.Address, bound, dash(s.Pinned))
		}
		fmt.Fprintln(tw)
		relays := false
		for _, s := range v.Sources {
			r := s.Relay
			if r == nil {
				continue
			}
			if !relays {
				fmt.Fprintln(tw, "RELAY\tPOSITION\tLAG\tDISK\tFILES\tOLDEST FILE\tNOTE")
				relays = true
			}
			note := r.Error
			if r.Gone != "" {
				note = strings.TrimPrefix(note+"; ", "; ") + "lost for good up to " + r.Gone
			}
			fmt.Fprintf(tw, "%s\t%s:%d\t%s\t%s\t%d\t%s\t%s\n", s.Name, r.BinlogFile, r.BinlogPos,
				time.Duration(r.LagSeconds*float64(time.Second)).Round(100*time.Millisecond), diskSize(r.DiskBytes), r.Files, dash(r.OldestFile), dash(note))
		}
		if relays {
			fmt.Fprintln(tw)
		}
	}
	if len(v.Subtasks) > 0 {
		fmt.Fprintln(tw, "TASK\tSOURCE\tAGENT\tDESIRED\tOBSERVED\tUNIT\tPROGRESS\tLAG\tPOSITION\tNOTE")
		for _, s := range v.Subtasks {
			note := s.Note
			if s.Error != "" {
				note = s.Error
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
				s.Task, s.Source, dash(s.Worker), s.DesiredStage, dash(string(s.Stage)), dash(s.Unit),
				progress(s, opts.Bars), lag(s), position(s), note)
		}
		fmt.Fprintln(tw)
		orphans := false
		for _, s := range v.Subtasks {
			for _, t := range s.Orphaned {
				if !orphans {
					fmt.Fprintln(tw, "ORPHANED TABLE\tLEFT BY\tNOTE")
					orphans = true
				}
				fmt.Fprintf(tw, "%s\t%s/%s\twritten under earlier routes, written no more; its rows stay (drop it when no longer needed)\n",
					t, s.Task, s.Source)
			}
		}
		if orphans {
			fmt.Fprintln(tw)
		}
		renderValidation(tw, v.Subtasks)
	}
	if len(v.ShardLocks) > 0 {
		fmt.Fprintln(tw, "SHARD DDL LOCK\tDDL\tSTATE\tREACHED\tAWAITED\tSINCE")
		for _, l := range v.ShardLocks {
			fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%s\t%s\n", l.Task, l.Target, l.DDL, l.State,
				dash(strings.Join(l.Reached, ", ")), dash(strings.Join(l.Awaited, ", ")), l.Since.UTC().Format(time.RFC3339))
		}
		fmt.Fprintln(tw)
	}
	renderSchemas(tw, v.ShardSchemas)
	if len(v.Workers) > 0 {
		fmt.Fprintln(tw, "AGENT\tADDRESS\tSOURCES")
		for _, wk := range v.Workers {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", wk.Name, dash(wk.Address), wk.Sources)
		}
		fmt.Fprintln(tw)
	} else if len(v.Sources) > 0 {
		fmt.Fprintln(tw, "No live agents: start one with \"dmplan agent --name NAME\".")
		fmt.Fprintln(tw)
	}
	if len(v.Applies) > 0 {
		fmt.Fprintln(tw, "APPLY\tTIME\tBY\tGIT COMMIT\tCHANGES")
		for _, a := range v.Applies {
			by := a.User
			if a.Host != "" {
				by += "@" + a.Host
			}
			fmt.Fprintf(tw, "#%s\t%s\t%s\t%s\t+%d ~%d -/+%d -%d\n", a.ID, a.Time.UTC().Format(time.RFC3339),
				by, dash(shortCommit(a.GitCommit)), a.Summary.Create, a.Summary.Update, a.Summary.Replace, a.Summary.Delete)
		}
	}
	in, total := v.Summary()
	if total > 0 {
		fmt.Fprintf(tw, "\n%d of %d subtasks are where they were asked to be.\n", in, total)
	}
	if n := v.Retrying(); n > 0 {
		fmt.Fprintf(tw, "%d %s running but retrying after an error (NOTE says which): nothing moves until it clears.\n", n, plural(int64(n), "subtask is", "subtasks are"))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func shortCommit(c string) string {
	if len(c) > 12 && !strings.HasSuffix(c, "-dirty") {
		return c[:12]
	}
	if strings.HasSuffix(c, "-dirty") && len(c) > 18 {
		return c[:12] + "-dirty"
	}
	return c
}

// renderValidation lists the rows validation found differing.
func renderValidation(w io.Writer, subs []Subtask) {
	head := false
	for _, s := range subs {
		val := s.Validation
		if val == nil {
			continue
		}
		for _, r := range val.Rows {
			if !head {
				fmt.Fprintln(w, "DIFFERING ROW\tKEY\tFOUND\tCOLUMNS\tLAST CHANGE\tSUBTASK")
				head = true
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s:%d\t%s/%s\n", r.Table, r.Key, r.Kind, dash(strings.Join(r.Columns, ",")),
				r.BinlogFile, r.BinlogPos, s.Task, s.Source)
		}
		if n := val.Failed - int64(len(val.Rows)); n > 0 && len(val.Rows) > 0 {
			fmt.Fprintf(w, "(and %d more)\t\t\t\t\t%s/%s\n", n, s.Task, s.Source)
		}
	}
	if head {
		fmt.Fprintln(w)
	}
}

func progress(s Subtask, bars bool) string {
	p := s.Progress
	switch {
	case s.Unit == "sync" && s.Validation != nil:
		v := s.Validation
		return fmt.Sprintf("validate %s: %d checked, %d pending, %d differ, %d skipped", v.Mode, v.Checked, v.Pending, v.Failed, v.Skipped)
	case s.Unit == "sync":
		return "-"
	case p.RowsTotal > 0:
		frac := float64(p.RowsDone) / float64(p.RowsTotal)
		if frac > 1 {
			frac = 1
		}
		txt := fmt.Sprintf("%d/%d tables, %d/%d rows", p.TablesDone, p.TablesTotal, p.RowsDone, p.RowsTotal)
		if bars {
			n := int(frac * 10)
			txt = "[" + strings.Repeat("#", n) + strings.Repeat(".", 10-n) + "] " + fmt.Sprintf("%3.0f%% ", frac*100) + txt
		}
		return txt
	case p.TablesTotal > 0:
		return fmt.Sprintf("%d/%d tables", p.TablesDone, p.TablesTotal)
	}
	return "-"
}

func lag(s Subtask) string {
	if s.Unit != "sync" {
		return "-"
	}
	return fmt.Sprintf("%.1fs", s.LagSeconds)
}

func position(s Subtask) string {
	switch {
	case s.GTID != "":
		return s.GTID
	case s.BinlogFile != "":
		return fmt.Sprintf("%s:%d", s.BinlogFile, s.BinlogPos)
	}
	return "-"
}

// diskSize is a byte count for people.
func diskSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// renderSchemas prints the optimistic shard records and their conflicts.
func renderSchemas(tw io.Writer, ss []ShardSchema) {
	if len(ss) == 0 {
		return
	}
	fmt.Fprintln(tw, "SHARD SCHEMA (OPTIMISTIC)\tSHARDS\tCHANGED\tCONFLICTS\tJOINED")
	var conflicts bool
	for _, s := range ss {
		fmt.Fprintf(tw, "%s/%s\t%d\t%d\t%d\t%s\n", s.Task, s.Target, s.Shards, len(s.Changed), len(s.Conflicts), s.Joined)
		conflicts = conflicts || len(s.Conflicts) > 0
	}
	fmt.Fprintln(tw)
	if !conflicts {
		return
	}
	fmt.Fprintln(tw, "SHARD DDL CONFLICT\tSHARD\tDDL\tREASON\tSINCE")
	for _, s := range ss {
		for _, c := range s.Conflicts {
			fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%s\n", s.Task, s.Target, c.Shard, c.DDL, c.Reason, c.Since.UTC().Format(time.RFC3339))
		}
	}
	fmt.Fprintln(tw)
}
