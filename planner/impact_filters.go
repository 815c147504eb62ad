package planner

import (
	"strings"

	"github.com/dmplan/dmplan/internal/binlogfilter"
	"github.com/dmplan/dmplan/spec"
)

// The binlog event filter (spec.filters) and online schema change rules
// (spec.onlineDDL) act on binlog events only: sync reads them when it
// starts (effect: restart; mode full runs no sync and ignores them).

// filtersDesc says what the rules do to a subtask's binlog events.
func filtersDesc(rules []spec.FilterRule) string {
	parts := make([]string, len(rules))
	for i, r := range rules {
		parts[i] = binlogfilter.Describe(r)
	}
	return strings.Join(parts, "; ")
}

// filtersLine is the task line of its rules when created.
func filtersLine(t spec.Task) string {
	line := "binlog event filter: " + filtersDesc(t.Filters)
	if t.Mode == spec.ModeAll {
		line += " (binlog events only: the dump copies the tables' rows as they are)"
	}
	return line
}

// onlineDDLDesc says what spec.onlineDDL makes of gh-ost's and
// pt-online-schema-change's tables.
func onlineDDLDesc(o spec.OnlineDDL) string {
	if o.Off {
		return "onlineDDL off: the shadow and trash tables of online schema change tools are replicated like any table the filter selects"
	}
	rules := "the default rules (_T_gho, _T_new shadow; _T_ghc, _T_del, _T_old trash)"
	if len(o.Shadow) > 0 || len(o.Trash) > 0 {
		rules = "the rules given"
	}
	return "onlineDDL on with " + rules + ": row changes of shadow and trash tables are skipped; " +
		"ALTERs of a shadow table run on its real table at the swap"
}

// filterLines says what a change of spec.filters or spec.onlineDDL does.
func filterLines(c, w spec.Task, fresh bool) []string {
	var out []string
	filtersChanged := binlogfilter.Key(c.Filters) != binlogfilter.Key(w.Filters)
	onlineChanged := !c.OnlineDDL.Equal(w.OnlineDDL)
	if !filtersChanged && !onlineChanged {
		return nil
	}
	var what []string
	if filtersChanged {
		if len(w.Filters) == 0 {
			what = append(what, "filters removed: every binlog event of the selected tables is replicated")
		} else {
			what = append(what, "filters changed: "+filtersDesc(w.Filters))
		}
	}
	if onlineChanged {
		what = append(what, onlineDDLDesc(w.OnlineDDL))
	}
	head := strings.Join(what, "; ")
	switch {
	case w.Mode == spec.ModeFull:
		out = append(out, head+": no effect, mode full runs no sync")
	case fresh:
		out = append(out, head)
	case w.Stage != spec.StageRunning:
		out = append(out, head+": taken when "+w.Name+" runs again (it is "+string(w.Stage)+")")
	default:
		out = append(out, head+": running subtasks restart from their checkpoints; binlog events from there on follow the new rules, "+
			"events already dropped are not replayed and rows already in the target stay as they are")
	}
	return out
}

// subtaskFilterDesc is the part of a subtask's line that says which
// binlog events it drops ("" when none).
func subtaskFilterDesc(s Subtask) string {
	if s.Mode == spec.ModeFull || len(s.Filters) == 0 {
		return ""
	}
	return "binlog filter: " + filtersDesc(s.Filters)
}

func renderFilter(r spec.FilterRule) string {
	var b strings.Builder
	b.WriteString(string(r.Action))
	if len(r.Events) > 0 {
		b.WriteString(" events ")
		b.WriteString(renderList(r.Events))
	}
	if len(r.SQL) > 0 {
		b.WriteString(" sql ")
		b.WriteString(renderList(r.SQL))
	}
	b.WriteString(" on ")
	b.WriteString(renderList(r.Tables))
	return b.String()
}

func renderOnlineDDL(o spec.OnlineDDL) string {
	if o.Off {
		return "false"
	}
	if len(o.Shadow) == 0 && len(o.Trash) == 0 {
		return "true"
	}
	list := func(xs []string) string {
		if len(xs) == 0 {
			return "(default)"
		}
		return renderList(xs)
	}
	return "{shadow: " + list(o.Shadow) + ", trash: " + list(o.Trash) + "}"
}
