package planner

import (
	"strconv"
	"strings"

	"github.com/dmplan/dmplan/internal/effect"
	"github.com/dmplan/dmplan/spec"
)

// Small helpers that turn values into the words of impact lines.

// addr is host:port ([host]:port for an IPv6 address), as
// net.JoinHostPort writes it: planner does not import the network.
func addr(e spec.Endpoint) string {
	host := e.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(e.Port)
}

// of names a subtask in a sentence: "shop from mysql-01".
func of(task, source string) string { return task + " from " + source }

// work is what a subtask does, for "pauses <work> of shop from mysql-01".
func work(m spec.Mode) string {
	if m == spec.ModeFull {
		return "the copy"
	}
	return "replication"
}

// count renders "1 subtask" or "3 subtasks".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func names(xs []string) string { return strings.Join(xs, ", ") }

// startDesc says where incremental sync of one source begins. Without a
// position it is where the source is when an agent takes the subtask (a
// new one: created) or the change that starts it over: the agent records
// it at once, whatever the subtask's stage (units.Pin).
func startDesc(p *spec.StartPos, created bool) string {
	switch {
	case p == nil:
	case p.GTID != "":
		return "gtid " + p.GTID
	case p.BinlogFile != "":
		return p.BinlogFile + ":" + strconv.FormatUint(uint64(p.BinlogPos), 10)
	case p.Time != "":
		return "the first transaction at or after " + p.Time
	}
	if created {
		return "the source's position when an agent first takes it"
	}
	return "the source's position when its agent takes the change"
}

// startsDesc says where sync begins for each source of a task.
func startsDesc(t spec.Task, created bool) string {
	if len(t.Start) == 0 {
		when := "takes the change"
		if created {
			when = "first takes it"
		}
		if len(t.Sources) == 1 {
			return "the source's position when an agent " + when
		}
		return "each source's position when an agent " + when
	}
	parts := make([]string, 0, len(t.Sources))
	for _, s := range t.Sources {
		x, ok := t.Start[s]
		if !ok {
			when := "takes the change"
			if created {
				when = "first takes it"
			}
			parts = append(parts, s+"'s position when an agent "+when)
			continue
		}
		parts = append(parts, startDesc(&x, created)+" on "+s)
	}
	return names(parts)
}

// unpinnedWait is said of new incremental subtasks without spec.start
// whose source no live agent serves: nothing records their start yet.
const unpinnedWait = "no start position is recorded until an agent takes it: changes made before then are not replicated"

// filterDesc describes a table filter in words: "tables matching shop.*
// except shop.tmp_*" when its includes come before its excludes (then the
// order does not matter), otherwise the ordered list.
func filterDesc(tables []string) string {
	var inc, exc []string
	ordered := true
	for _, p := range tables {
		if body, ok := strings.CutPrefix(p, "!"); ok {
			exc = append(exc, body)
		} else {
			if len(exc) > 0 {
				ordered = false
			}
			inc = append(inc, p)
		}
	}
	switch {
	case len(inc) == 0:
		return "no tables (the filter has no include pattern)"
	case !ordered:
		return "the tables selected by " + renderList(tables) + " (last match wins)"
	case len(exc) == 0:
		return "tables matching " + names(inc)
	}
	return "tables matching " + names(inc) + " except " + names(exc)
}

// groupDesc renders one set of tables whose match changed.
func groupDesc(g tableGroup, added bool) string {
	var b strings.Builder
	by := "no longer matched by "
	if added {
		by = "newly matched by "
	}
	except := ""
	if len(g.Except) > 0 {
		parts := make([]string, len(g.Except))
		for i, x := range g.Except {
			parts[i] = x
			if i < len(g.ExceptWhy) && g.ExceptWhy[i] != "" {
				parts[i] += " (" + g.ExceptWhy[i] + ")"
			}
		}
		except = " except " + names(parts)
	}
	reason := ""
	if g.Reason != "" {
		reason = " (" + g.Reason + ")"
	}
	if len(g.Match) == 1 && g.Match[0] == g.By {
		b.WriteString("tables " + by + g.By + reason + except)
	} else {
		b.WriteString("tables matching " + strings.Join(g.Match, " and ") + except + ", " + by + g.By + reason)
	}
	return b.String()
}

// agentDesc says who serves a source in the desired state.
func (d *differ) agentDesc(source string) string {
	if a, ok := d.want.Bounds[source]; ok {
		return "on " + a
	}
	return d.waitDesc(source)
}

// waitDesc explains why a source has no agent.
func (d *differ) waitDesc(source string) string {
	if s, ok := d.want.Sources[source]; ok && s.Worker != "" {
		return "waiting for agent " + s.Worker + ", which is not live"
	}
	return "waiting for an agent: none is live"
}

// onceServed says when a waiting source's subtasks run: "once agent-b is
// live and serves mysql-02".
func (d *differ) onceServed(source string) string {
	if s, ok := d.want.Sources[source]; ok && s.Worker != "" {
		return "once " + s.Worker + " is live and serves " + source
	}
	return "once an agent is live to serve " + source
}

// stageCounts counts a source's desired subtasks that also exist now: those
// that start over anyway (their own change is a Replace), and of the others
// those that are to run and those that are not.
func (d *differ) stageCounts(source string) (running, idle, fresh int) {
	return d.stageCountsOf(source, nil)
}

// stageCountsOf is stageCounts of the subtasks skip does not leave out.
func (d *differ) stageCountsOf(source string, skip func(Subtask) bool) (running, idle, fresh int) {
	for _, id := range d.subtasksOf(source, true) {
		old, ok := d.curSubtask(id)
		if !ok {
			continue
		}
		w, _ := d.wantSubtask(id)
		switch {
		case skip != nil && skip(w):
			continue
		case SubtaskEffect(old, w) == effect.Fresh:
			fresh++
		case w.Stage == spec.StageRunning:
			running++
		default:
			idle++
		}
	}
	return running, idle, fresh
}

// restartClause says what happens to a source's existing subtasks when
// they must reconnect.
func (d *differ) restartClause(source string) string {
	return d.restartClauseOf(source, nil)
}

// restartClauseOf is restartClause for the subtasks skip does not leave
// out (the others are not affected by the change).
func (d *differ) restartClauseOf(source string, skip func(Subtask) bool) string {
	if d.waiting[source] {
		return "the source waits for an agent; its subtasks use the change once one serves it"
	}
	r, i, f := d.stageCountsOf(source, skip)
	var parts []string
	switch {
	case r == 1:
		parts = append(parts, "1 running subtask of this source restarts from its checkpoint")
	case r > 1:
		parts = append(parts, count(r, "running subtask")+" of this source restart from their checkpoints")
	}
	switch {
	case i == 1:
		parts = append(parts, "1 paused or stopped subtask uses the change when resumed")
	case i > 1:
		parts = append(parts, count(i, "paused or stopped subtask")+" use the change when resumed")
	}
	switch {
	case f == 1:
		parts = append(parts, "1 subtask starts over anyway (see its change)")
	case f > 1:
		parts = append(parts, count(f, "subtask")+" start over anyway (see their changes)")
	}
	if len(parts) == 0 && skip != nil && len(d.subtasksOf(source, true)) > 0 {
		return "its subtasks of mode full read no binlog and are not touched"
	}
	if len(parts) == 0 {
		return "no subtask of this source runs"
	}
	return strings.Join(parts, "; ")
}

func tasksOf(ids []SubtaskID) []string {
	var out []string
	seen := map[string]bool{}
	for _, id := range ids {
		if !seen[id.Task] {
			seen[id.Task] = true
			out = append(out, id.Task)
		}
	}
	return out
}
