package planner

import (
	"github.com/dmplan/dmplan/internal/binlogfilter"
	"github.com/dmplan/dmplan/internal/effect"
	"slices"
	"strconv"
	"strings"

	"github.com/dmplan/dmplan/spec"
)

// Impact lines for sources, subtasks, stages and bounds. Task impacts are in
// impact_task.go. Each line says what will happen to data and to running
// units, derived from the change itself; none is a generic warning.

func (d *differ) sourceCreated(s spec.Source) []string {
	var out []string
	if a, ok := d.want.Bounds[s.Name]; ok {
		out = append(out, "new source, served by "+a)
	} else {
		out = append(out, "new source, "+d.waitDesc(s.Name))
	}
	if s.RelayOn() {
		out = append(out, "relay on: the agent serving it keeps a local copy of its binlog (kept "+relayRetain(s)+
			" after every subtask has passed it); its subtasks read it instead of the source")
	}
	if tasks := tasksOf(d.subtasksOf(s.Name, true)); len(tasks) > 0 {
		out = append(out, "used by "+plural(len(tasks), "task ", "tasks ")+names(tasks))
	} else {
		out = append(out, "no task uses it yet")
	}
	return out
}

func (d *differ) sourceDeleted(s spec.Source) []string {
	ids := d.subtasksOf(s.Name, false)
	if len(ids) == 0 {
		return []string{"no task uses it: nothing stops"}
	}
	tasks := tasksOf(ids)
	if len(ids) == 1 {
		return []string{"stops 1 subtask of task " + tasks[0] + "; its checkpoint stays in the target"}
	}
	return []string{"stops " + count(len(ids), "subtask") + " of " + plural(len(tasks), "task ", "tasks ") +
		names(tasks) + "; their checkpoints stay in the target"}
}

func (d *differ) sourceUpdated(c, w spec.Source) []string {
	var out []string
	moved := c.Host != w.Host || c.Port != w.Port
	conn := moved || c.User != w.User || c.Password != w.Password || !tlsEqual(c.TLS, w.TLS)
	if conn {
		var how []string
		if moved {
			how = append(how, "to "+addr(w.Endpoint))
		}
		how = append(how, credentialsHow(c.Endpoint, w.Endpoint)...)
		out = append(out, "reconnects "+strings.Join(how, " ")+": "+d.restartClause(w.Name))
		if moved && len(d.subtasksOf(w.Name, true)) > 0 {
			out = append(out, "checkpoints belong to the server at "+addr(c.Endpoint)+": if "+addr(w.Endpoint)+
				" is another server, sync resumes by GTID on the new server if it holds the checkpoints' GTIDs; "+
				"otherwise the subtask stops with an error (a file:pos is never read on another server, and a dump or load in progress does not move)")
		}
	}
	if c.Flavor != w.Flavor {
		line := "flavor " + flavorDesc(c.Flavor) + " -> " + flavorDesc(w.Flavor) +
			": binlog events and GTIDs are read as " + flavorDesc(w.Flavor)
		if !conn {
			line += "; " + d.restartClause(w.Name)
		}
		out = append(out, line)
	}
	if c.Worker != w.Worker {
		out = append(out, d.pinChanged(c, w))
	}
	if line := d.relayChanged(c, w); line != "" {
		out = append(out, line)
	}
	return out
}

// relayChanged is the impact of a change of a Source's relay (docs/relay.md).
func (d *differ) relayChanged(c, w spec.Source) string {
	who := "the agent serving it"
	if a, ok := d.want.Bounds[w.Name]; ok {
		who = a
	}
	// Mode full reads no binlog: the relay changes nothing for it.
	full := func(s Subtask) bool { return s.Mode == spec.ModeFull }
	switch {
	case !c.RelayOn() && w.RelayOn():
		return "relay on: " + who + " keeps a local copy of the source's binlog in its --relay-dir, from the oldest checkpoint of the source's subtasks, " +
			"kept " + relayRetain(w) + " after every subtask has passed it; sync reads it instead of opening its own binlog stream: " + d.restartClauseOf(w.Name, full)
	case c.RelayOn() && !w.RelayOn():
		return "relay off: " + who + " stops the relay (its files stay in --relay-dir until deleted by hand); sync reads the source's binlog again: " +
			d.restartClauseOf(w.Name, full) + "; a subtask whose checkpoint is in a binlog the source has purged stops with an error"
	case w.RelayOn() && relayRetain(c) != relayRetain(w):
		return "relay retain " + relayRetain(c) + " -> " + relayRetain(w) + ": files every subtask has passed are kept " + relayRetain(w) + " from now on; the subtasks are not touched"
	}
	return ""
}

func relayRetain(s spec.Source) string {
	if s.Relay == nil || s.Relay.Retain == "" {
		return spec.DefaultRelayRetain
	}
	return s.Relay.Retain
}

func flavorDesc(f spec.Flavor) string {
	if f == "" {
		return "(detected)"
	}
	return string(f)
}

func (d *differ) pinChanged(c, w spec.Source) string {
	from, wasBound := d.cur.Bounds[w.Name]
	to, bound := d.want.Bounds[w.Name]
	switch {
	case w.Worker == "" && bound && wasBound && from == to:
		return "no longer pinned to " + c.Worker + ": stays on " + to
	case w.Worker == "" && bound:
		return "no longer pinned to " + c.Worker + ": served by " + to
	case w.Worker == "":
		return "no longer pinned to " + c.Worker + "; " + d.waitDesc(w.Name)
	case !bound:
		return "pinned to " + w.Worker + ", which is not live: the source waits for it and its subtasks do not run"
	case wasBound && from == to:
		return "pinned to " + w.Worker + ", which already serves it"
	case wasBound:
		return "pinned to " + w.Worker + ": moves there from " + from
	}
	return "pinned to " + w.Worker
}

func (d *differ) subtaskCreated(s Subtask) []string {
	var what string
	switch s.Mode {
	case spec.ModeFull:
		what = "dumps the matched tables of " + s.Source + " and loads them, then finishes"
	case spec.ModeIncremental:
		what = "replicates changes of " + s.Source + " from " + startDesc(s.Start, true) + "; existing rows are not copied"
	default:
		what = "dumps and loads the matched tables of " + s.Source + ", then replicates from the snapshot's position"
	}
	line := what + "; " + d.agentDesc(s.Source)
	if f := subtaskFilterDesc(s); f != "" {
		line += "; " + f
	}
	if _, bound := d.want.Bounds[s.Source]; !bound && s.Mode == spec.ModeIncremental && s.Start == nil {
		line += "; " + unpinnedWait
	}
	return d.one(line)
}

func (d *differ) subtaskDeleted(s Subtask) []string {
	where := ""
	if a, ok := d.cur.Bounds[s.Source]; ok {
		where = " on " + a
	}
	return d.one("stops " + of(s.Task, s.Source) + where + "; rows already copied and its checkpoint stay in the target " + addr(s.Target))
}

func (d *differ) subtaskUpdated(c, w Subtask, eff effect.Effect) []string {
	name := of(w.Task, w.Source)
	agent, bound := d.want.Bounds[w.Source]
	var over string
	if eff == effect.Fresh {
		if moved := addr(c.Target) != addr(w.Target); moved && c.Mode == w.Mode && slices.Equal(c.Routes, w.Routes) && startEqual(c.Start, w.Start) {
			// The checkpoints live in the target: the new one has none of
			// this subtask's, unless it served it before.
			what := "its tables are dumped and loaded from scratch"
			if w.Mode == spec.ModeIncremental {
				what = "sync begins at " + startDesc(w.Start, false)
			}
			over = "starts over into the new target " + addr(w.Target) + ": " + what +
				" (from its checkpoints there if that target already holds this subtask's)"
		} else if w.Mode == spec.ModeIncremental {
			over = "starts over: sync begins at " + startDesc(w.Start, false) + ", not at its checkpoint"
		} else {
			over = "starts over: its checkpoint is discarded and its tables are dumped again from scratch"
		}
	}
	switch {
	case eff == effect.None:
		return d.one("no effect on its units: " + noEffectReason(c, w))
	case !bound:
		if over != "" {
			return d.one(d.waitDesc(w.Source) + "; once served, " + name + " " + over)
		}
		return d.one(d.waitDesc(w.Source) + "; the change applies once one serves it")
	case w.Stage != spec.StageRunning:
		if over != "" {
			return d.one(name + " is " + string(w.Stage) + "; when it runs again it " + over)
		}
		return d.one(name + " is " + string(w.Stage) + ": the change applies when it runs again")
	case over != "":
		return d.one(name + " " + strings.Replace(over, "starts over", "starts over on "+agent, 1))
	case eff == effect.Restart && c.Stage != spec.StageRunning:
		return d.one(name + " starts on " + agent + " from its checkpoint with the new config")
	case eff == effect.Restart:
		line := name + " restarts on " + agent + " from its checkpoint"
		if binlogfilter.Key(c.Filters) != binlogfilter.Key(w.Filters) {
			if f := subtaskFilterDesc(w); f != "" {
				line += "; " + f
			} else {
				line += "; it drops no binlog events any more"
			}
		}
		return d.one(line)
	}
	return d.one(name + " restarts on " + agent + " to take the new tuning: " + tuningRestart(w.Mode))
}

// tuningRestart says what a restart for new tuning (effect.Tuning) does to
// the units of a mode: the units take their config when they start.
func tuningRestart(m spec.Mode) string {
	const dump = "a dump/load in progress keeps the chunks already loaded and reads the rest from a new snapshot"
	switch m {
	case spec.ModeFull:
		return dump + "; a finished copy stays finished"
	case spec.ModeIncremental:
		return "sync resumes from its checkpoint (nothing is applied twice)"
	}
	return "sync resumes from its checkpoint; " + dump
}

// noEffectReason names the fields that changed without reaching a unit.
func noEffectReason(c, w Subtask) string {
	var r []string
	if !startEqual(c.Start, w.Start) {
		r = append(r, "spec.start is read only by mode incremental")
	}
	if c.Dump != w.Dump {
		r = append(r, "mode incremental runs no dump")
	}
	if c.Sync != w.Sync || c.Validate != w.Validate || binlogfilter.Key(c.Filters) != binlogfilter.Key(w.Filters) || !c.OnlineDDL.Equal(w.OnlineDDL) ||
		shardKey(c.ShardMode, c.ShardDDL) != shardKey(w.ShardMode, w.ShardDDL) {
		r = append(r, "mode full runs no sync")
	}
	return strings.Join(r, "; ")
}

func (d *differ) stageCreated(s Subtask) []string {
	name := of(s.Task, s.Source)
	switch s.Stage {
	case spec.StagePaused, spec.StageStopped:
		line := "created " + string(s.Stage) + ": " + name + " does not run until its stage is running"
		if s.Mode == spec.ModeIncremental {
			line += "; its start position is recorded as soon as an agent takes it, and every change from there on is replicated when it runs"
		}
		return d.one(line)
	}
	if _, ok := d.want.Bounds[s.Source]; !ok {
		return d.one("starts " + name + " " + d.onceServed(s.Source))
	}
	return d.one("starts " + name)
}

func (d *differ) stageUpdated(c, w Subtask) []string {
	name := of(w.Task, w.Source)
	wk := work(w.Mode)
	var line string
	switch w.Stage {
	case spec.StagePaused:
		if c.Stage == spec.StageStopped {
			line = name + " stays idle (stopped -> paused); the checkpoint is kept"
		} else {
			line = "pauses " + wk + " of " + name + "; the checkpoint is kept"
		}
	case spec.StageStopped:
		line = "stops " + wk + " of " + name + "; the checkpoint is kept"
	default:
		verb := "resumes "
		if c.Stage == spec.StageStopped {
			verb = "restarts "
		}
		line = verb + wk + " of " + name
		if old, ok := d.curSubtask(SubtaskID{w.Task, w.Source}); ok && SubtaskEffect(old, w) == effect.Fresh {
			line += ", starting over: its checkpoint is discarded (see subtask." + w.Task + "/" + w.Source + ")"
		} else {
			line += " from its checkpoint"
		}
		if _, ok := d.want.Bounds[w.Source]; !ok {
			line += " " + d.onceServed(w.Source)
		}
	}
	return d.one(line)
}

func (d *differ) boundCreated(source, agent string) []string {
	ids := d.subtasksOf(source, true)
	if len(ids) == 0 {
		return d.one(source + " is served by " + agent + "; it has no subtasks yet")
	}
	verb := " start there"
	if _, existed := d.cur.Sources[source]; existed {
		verb = " start there from their checkpoints"
		if len(ids) == 1 {
			verb = " starts there from its checkpoint"
		}
	} else if len(ids) == 1 {
		verb = " starts there"
	}
	line := source + " is served by " + agent + ": " + d.subtaskNoun(ids) + verb
	if _, existed := d.cur.Sources[source]; existed {
		line += d.relayMoves(source, agent)
	}
	return d.one(line)
}

func (d *differ) boundDeleted(source, agent string) []string {
	if _, ok := d.want.Sources[source]; !ok {
		return d.one(agent + " releases " + source)
	}
	why := agent + " is not live"
	if s := d.want.Sources[source]; s.Worker != "" && s.Worker != agent {
		why = "it is pinned to " + s.Worker + ", which is not live"
	}
	line := source + " leaves " + agent + ": " + why
	ids := d.subtasksOf(source, true)
	if len(ids) == 0 {
		return d.one(line + "; it has no subtasks")
	}
	return []string{line + "; " + d.subtaskNoun(ids) + plural(len(ids), " stops", " stop") + " and " +
		plural(len(ids), "resumes from its checkpoint ", "resume from their checkpoints ") + d.onceServed(source)}
}

// relayMoves says what happens to the relay of a source with its relay on
// that comes to agent (docs/relay.md, "Failover"); "" for other sources.
func (d *differ) relayMoves(source, agent string) string {
	if s, ok := d.want.Sources[source]; !ok || !s.RelayOn() {
		return ""
	}
	if d.relayAt[agent+"/"+source] {
		return "; its relay continues from the relay directory " + agent + " holds"
	}
	return "; its relay starts anew on " + agent + " at the subtasks' checkpoints, fetched from the source (dmplan plan --refresh checks the source still has them)"
}

func (d *differ) boundMoved(source, from, to string) []string {
	lines := d.boundMovedSubtasks(source, from, to)
	if r := d.relayMoves(source, to); r != "" {
		lines[len(lines)-1] += r
	}
	return lines
}

func (d *differ) boundMovedSubtasks(source, from, to string) []string {
	line := source + " moves from " + from
	if !d.live[from] {
		line += " (not live)"
	}
	line += " to " + to
	ids := d.subtasksOf(source, true)
	running := 0
	for _, id := range ids {
		if w, _ := d.wantSubtask(id); w.Stage == spec.StageRunning {
			running++
		}
	}
	switch {
	case len(ids) == 0:
		return d.one(line + "; it has no subtasks")
	case running == 0:
		return []string{line + "; " + d.subtaskNoun(ids) + plural(len(ids), " is", " are") +
			" not running and will run there when resumed"}
	case len(ids) == 1:
		return d.one(line + ": " + d.subtaskNoun(ids) + " restarts there from its checkpoint")
	case running < len(ids):
		return []string{line + ": its " + strconv.Itoa(running) + " running subtasks restart there from their checkpoints; " +
			"the others run there when resumed"}
	}
	return d.one(line + ": its subtasks restart there from their checkpoints")
}

// subtaskNoun names a source's subtasks: "its subtask shop/mysql-01" or
// "its 3 subtasks".
func (d *differ) subtaskNoun(ids []SubtaskID) string {
	if len(ids) == 1 {
		return "its subtask " + ids[0].String()
	}
	return "its " + count(len(ids), "subtask")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
