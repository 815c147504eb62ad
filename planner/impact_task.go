package planner

import (
	"slices"
	"strconv"
	"strings"

	"github.com/dmplan/dmplan/spec"
)

func (d *differ) taskCreated(t spec.Task) []string {
	from, into := names(t.Sources), addr(t.Target)
	var out []string
	switch t.Mode {
	case spec.ModeFull:
		out = append(out, "dumps "+filterDesc(t.Tables)+" from "+from+" and loads them into "+into+"; the task then finishes")
	case spec.ModeIncremental:
		out = append(out, "replicates changes to "+filterDesc(t.Tables)+" from "+from+" into "+into+
			", starting at "+startsDesc(t, true)+"; existing rows are not copied")
	default:
		out = append(out, "dumps "+filterDesc(t.Tables)+" from "+from+" into "+into+", then replicates their changes")
	}
	if len(t.AcceptLostCascades) > 0 && t.Mode != spec.ModeFull {
		out = append(out, cascadesLine(t.AcceptLostCascades))
	}
	if m := t.Validate.Mode; m != spec.ValidateNone {
		if t.Mode == spec.ModeFull {
			out = append(out, "validate.mode "+m.String()+": no effect, mode full runs no sync")
		} else {
			out = append(out, "validate.mode "+m.String()+": "+validateWhat(m))
		}
	}
	if len(t.Filters) > 0 && t.Mode != spec.ModeFull {
		out = append(out, filtersLine(t))
	}
	if t.OnlineDDL.Off && t.Mode != spec.ModeFull {
		out = append(out, onlineDDLDesc(t.OnlineDDL))
	}
	if t.Stage != spec.StageRunning {
		line := "created " + string(t.Stage) + ": nothing runs until spec.stage is running"
		if t.Mode == spec.ModeIncremental {
			line += "; each subtask's start position is recorded as soon as an agent takes it"
		}
		out = append(out, line)
	}
	if w := d.waitingOf(t.Sources); len(w) > 0 {
		line := names(w) + " " + plural(len(w), "has", "have") + " no agent yet: " +
			plural(len(w), "its subtask waits", "their subtasks wait")
		if t.Mode == spec.ModeIncremental && slices.ContainsFunc(w, func(s string) bool { _, ok := t.Start[s]; return !ok }) {
			line += "; " + unpinnedWait
		}
		out = append(out, line)
	}
	return out
}

func (d *differ) taskDeleted(t spec.Task) []string {
	out := []string{"stops " + t.Name + " on " + names(t.Sources) + "; rows already copied and " +
		plural(len(t.Sources), "the checkpoint stay", "the checkpoints stay") + " in the target " + addr(t.Target)}
	if t.ShardMode != "" {
		out = append(out, "its shard DDL locks and shard schema records are deleted from etcd; the shard state kept with the checkpoints "+
			"(held changes, base tables and shard views in dmplan_meta) stays, and a task of the same name started from those checkpoints joins its locks afresh")
	}
	return out
}

// taskUpdated returns Replace when some subtask must start over (see
// SubtaskEffect), with one line per changed aspect.
func (d *differ) taskUpdated(c, w spec.Task) (Action, []string) {
	action := Update
	var out []string
	fresh := false
	if c.Mode != w.Mode {
		fresh = true
		out = append(out, modeLine(c, w)...)
	}
	if addr(c.Target) != addr(w.Target) {
		fresh = true
		if w.Mode == spec.ModeIncremental {
			out = append(out, "target "+addr(c.Target)+" -> "+addr(w.Target)+": sync into the new target starts at "+
				startsDesc(w, false)+"; checkpoints stay in the old target and are not carried over; no rows are copied")
		} else {
			out = append(out, "copies everything again into the new target "+addr(w.Target)+
				"; "+addr(c.Target)+" keeps the rows and checkpoints already there")
		}
	} else if c.Target.User != w.Target.User || c.Target.Password != w.Target.Password || !tlsEqual(c.Target.TLS, w.Target.TLS) {
		what := ": running subtasks restart from their checkpoints"
		if w.Stage != spec.StageRunning {
			what = " when " + w.Name + " runs again (it is " + string(w.Stage) + ")"
		}
		out = append(out, "reconnects to the target "+targetHow(c.Target, w.Target)+what)
	}
	out = append(out, d.sourcesLines(c, w)...)
	if !slices.Equal(c.Tables, w.Tables) {
		out = append(out, tablesLines(c, w, fresh)...)
	}
	if !slices.Equal(c.Routes, w.Routes) {
		line := routesDelta(c.Routes, w.Routes)
		switch {
		case fresh:
		case w.Mode == spec.ModeIncremental:
			out = append(out, line+": changes from now on follow the new routes; rows already in the target are not moved")
		default:
			fresh = true
			out = append(out, line+": target tables are dumped again from scratch with the new routes;"+
				" rows copied under the old routes stay where they are")
		}
		if addr(c.Target) == addr(w.Target) {
			out = append(out, orphanLine(w, c.Routes, w.Routes)...)
		}
	}
	if l, f := startLines(c, w); len(l) > 0 {
		fresh = fresh || f
		out = append(out, l...)
	}
	if !slices.Equal(c.AcceptLostCascades, w.AcceptLostCascades) && w.Mode != spec.ModeFull && !fresh {
		out = append(out, acceptCascadesLine(c.AcceptLostCascades, w.AcceptLostCascades, w))
	}
	out = append(out, filterLines(c, w, fresh)...)
	if c.Stage != w.Stage {
		out = append(out, stageLine(c, w))
	}
	out = append(out, tuningLines(c, w)...)
	if fresh {
		action = Replace
		if w.Mode != spec.ModeIncremental && d.sharesTargets(c, w) {
			out = append(out, "target tables other subtasks also write into are never dropped: see the subtask lines")
		}
	}
	return action, out
}

// cascadesLine says what spec.acceptLostCascades lets happen.
func cascadesLine(accept []string) string {
	return "foreign-key cascades into " + names(accept) + " need not be reproduced on the target: " +
		"their rows may keep what the source's ON DELETE/ON UPDATE actions changed"
}

// acceptCascadesLine says what a change of spec.acceptLostCascades does.
func acceptCascadesLine(c, w []string, t spec.Task) string {
	what := "running subtasks restart, and sync stops if the target cannot reproduce a cascade into a table not listed"
	if t.Stage != spec.StageRunning {
		what = "checked when " + t.Name + " runs again (it is " + string(t.Stage) + ")"
	}
	switch {
	case len(w) == 0:
		return "acceptLostCascades removed: " + what
	case len(c) == 0:
		return "acceptLostCascades added: " + cascadesLine(w) + "; " + what
	}
	return "acceptLostCascades changed: " + cascadesLine(w) + "; " + what
}

func modeLine(c, w spec.Task) []string {
	head := "mode " + string(c.Mode) + " -> " + string(w.Mode) + ": "
	switch w.Mode {
	case spec.ModeIncremental:
		out := []string{head + "no dump; sync restarts at " + startsDesc(w, false) + ", not at the checkpoints; rows already copied stay in the target"}
		var missing []string
		for _, s := range w.Sources {
			if _, ok := w.Start[s]; !ok {
				missing = append(missing, s)
			}
		}
		if len(missing) > 0 {
			out = append(out, names(missing)+" "+plural(len(missing), "has", "have")+
				" no spec.start: changes made between the last checkpoint and the restart are not copied")
		}
		return out
	case spec.ModeFull:
		if c.Mode == spec.ModeAll {
			return []string{head + "replication stops; target tables are dumped again from scratch, then the task finishes"}
		}
		return []string{head + "target tables are dumped again from scratch, then the task finishes"}
	}
	return []string{head + "target tables are dumped again from scratch, then replicated from the new snapshot"}
}

func targetHow(c, w spec.Endpoint) string {
	return strings.Join(credentialsHow(c, w), " ")
}

// credentialsHow says how an endpoint's user and password change, never
// showing a password: only its ${VAR} reference, or that its value changed.
func credentialsHow(c, w spec.Endpoint) []string {
	var how []string
	if c.User != w.User {
		how = append(how, "as "+quote(w.User))
	}
	switch {
	case c.Password.Ref != w.Password.Ref && !w.Password.IsZero():
		how = append(how, "with the password from "+w.Password.String())
	case c.Password.Ref != w.Password.Ref:
		how = append(how, "without a password")
	case c.Password.Digest != w.Password.Digest:
		how = append(how, "with the changed password")
	}
	if !tlsEqual(c.TLS, w.TLS) {
		how = append(how, tlsHow(w.TLS))
	}
	return how
}

func tlsEqual(a, b *spec.TLS) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

// tlsHow says how a connection will use TLS.
func tlsHow(t *spec.TLS) string {
	if t == nil || t.Mode == spec.TLSDisabled {
		return "without TLS"
	}
	switch t.Mode {
	case spec.TLSPreferred:
		return "with TLS when the server offers it (unverified)"
	case spec.TLSRequired:
		return "over TLS (the server's certificate is not verified)"
	case spec.TLSVerifyCA:
		return "over TLS, verifying the server's certificate against " + t.CA
	}
	return "over TLS, verifying the server's certificate and host name against " + t.CA
}

func (d *differ) sourcesLines(c, w spec.Task) []string {
	var out []string
	for _, s := range w.Sources {
		if slices.Contains(c.Sources, s) {
			continue
		}
		var what string
		switch w.Mode {
		case spec.ModeFull:
			what = "its matched tables are dumped and loaded"
		case spec.ModeIncremental:
			var p *spec.StartPos
			if x, ok := w.Start[s]; ok {
				p = &x
			}
			what = "its changes are replicated from " + startDesc(p, true) + "; existing rows are not copied"
		default:
			what = "its matched tables are dumped, then replicated"
		}
		if d.waiting[s] {
			what += " (" + d.waitDesc(s) + ")"
			if _, ok := w.Start[s]; !ok && w.Mode == spec.ModeIncremental {
				what += "; " + unpinnedWait
			}
		}
		out = append(out, "adds source "+s+": "+what)
	}
	for _, s := range c.Sources {
		if !slices.Contains(w.Sources, s) {
			out = append(out, "removes source "+s+": its subtask stops; rows already copied and its checkpoint stay in the target")
		}
	}
	return out
}

// tablesLines describes a filter change as the tables it adds and drops.
// When the subtask starts over anyway (fresh) it says only which tables.
func tablesLines(c, w spec.Task, fresh bool) []string {
	delta := compareFilters(c.Tables, w.Tables)
	if delta.Complex {
		return []string{"tables filter changed (more than " + strconv.Itoa(maxFilterPatterns) +
			" distinct patterns, not analysed): compare spec.tables before and after"}
	}
	if len(delta.Added) == 0 && len(delta.Dropped) == 0 {
		return []string{"tables filter rewritten: it matches the same tables as before"}
	}
	var add, drop string
	switch {
	case fresh:
	case w.Mode == spec.ModeFull:
		add, drop = " — dumped and loaded", " — rows already copied stay in the target"
	case w.Mode == spec.ModeIncremental:
		add = " — their changes are replicated from the checkpoint on; existing rows are not copied" +
			" (nor the changes made while one was left out)"
		drop = " — rows already copied stay in the target; changes stop"
	default:
		add = " — copied from a new snapshot before they join replication (one copied before and left out since" +
			" is copied again, so the changes made meanwhile are not missing)"
		drop = " — rows already copied stay in the target; changes stop"
	}
	var out []string
	for _, g := range delta.Added {
		out = append(out, groupDesc(g, true)+add)
	}
	for _, g := range delta.Dropped {
		out = append(out, groupDesc(g, false)+drop)
	}
	return out
}

func routesDelta(c, w []spec.Route) string {
	var added, removed []string
	for _, r := range w {
		if !slices.Contains(c, r) {
			added = append(added, routeString(r))
		}
	}
	for _, r := range c {
		if !slices.Contains(w, r) {
			removed = append(removed, routeString(r))
		}
	}
	var parts []string
	if len(added) > 0 {
		parts = append(parts, "added "+names(added))
	}
	if len(removed) > 0 {
		parts = append(parts, "removed "+names(removed))
	}
	if len(parts) == 0 {
		return "routes reordered"
	}
	return "routes " + strings.Join(parts, "; ")
}

// startLines reports start position changes of the task's sources; fresh is
// true when sync of some source starts over because of them.
func startLines(c, w spec.Task) (out []string, fresh bool) {
	var changed []string
	if c.Mode != w.Mode {
		return nil, false // the mode line says where sync starts
	}
	for _, s := range w.Sources {
		if !slices.Contains(c.Sources, s) {
			continue // a new source's start is part of its creation
		}
		old, hadOld := c.Start[s]
		cur, has := w.Start[s]
		if hadOld == has && old == cur {
			continue
		}
		changed = append(changed, s)
		if w.Mode != spec.ModeIncremental {
			continue
		}
		fresh = true
		var p *spec.StartPos
		if has {
			p = &cur
		}
		out = append(out, "sync from "+s+" restarts at "+startDesc(p, false)+", not at its checkpoint")
	}
	if len(changed) > 0 && w.Mode != spec.ModeIncremental {
		out = append(out, "spec.start of "+names(changed)+" has no effect: it is read only by mode incremental")
	}
	return out, fresh
}

func stageLine(c, w spec.Task) string {
	subject := work(w.Mode) + " of " + w.Name + " from " + names(w.Sources)
	kept := plural(len(w.Sources), "the checkpoint is kept", "checkpoints are kept")
	from := plural(len(w.Sources), " from its checkpoint", " from their checkpoints")
	switch w.Stage {
	case spec.StagePaused:
		if c.Stage == spec.StageStopped {
			return w.Name + " stays idle (stopped -> paused); " + kept
		}
		return "pauses " + subject + "; " + kept
	case spec.StageStopped:
		return "stops " + subject + "; " + kept
	}
	if c.Stage == spec.StageStopped {
		return "restarts " + subject + from
	}
	return "resumes " + subject + from
}

// tuningTask says which of the task's subtasks restart for new tuning.
func tuningTask(w spec.Task) string {
	if w.Stage != spec.StageRunning {
		return "taken when " + w.Name + " runs again (it is " + string(w.Stage) + "); "
	}
	return "running subtasks restart to take it: "
}

func tuningLines(c, w spec.Task) []string {
	var out []string
	if c.Dump.Threads != w.Dump.Threads {
		head := "dump.threads " + strconv.Itoa(c.Dump.Threads) + " -> " + strconv.Itoa(w.Dump.Threads)
		if w.Mode == spec.ModeIncremental {
			out = append(out, head+": no effect, mode incremental runs no dump")
		} else {
			out = append(out, head+": "+tuningTask(w)+tuningRestart(w.Mode))
		}
	}
	var sync []string
	if c.Sync.Workers != w.Sync.Workers {
		sync = append(sync, "sync.workers "+strconv.Itoa(c.Sync.Workers)+" -> "+strconv.Itoa(w.Sync.Workers))
	}
	if c.Sync.Batch != w.Sync.Batch {
		sync = append(sync, "sync.batch "+strconv.Itoa(c.Sync.Batch)+" -> "+strconv.Itoa(w.Sync.Batch))
	}
	if len(sync) > 0 {
		if w.Mode == spec.ModeFull {
			out = append(out, names(sync)+": no effect, mode full runs no sync")
		} else {
			out = append(out, names(sync)+": "+tuningTask(w)+tuningRestart(w.Mode))
		}
	}
	if c.Validate != w.Validate {
		out = append(out, validateLine(c.Validate.Mode, w))
	}
	return out
}

// validateLine says what a change of spec.validate.mode does.
func validateLine(c spec.ValidateMode, w spec.Task) string {
	head := "validate.mode " + c.String() + " -> " + w.Validate.Mode.String()
	if w.Mode == spec.ModeFull {
		return head + ": no effect, mode full runs no sync"
	}
	return head + ": " + tuningTask(w) + tuningRestart(w.Mode) + "; " + validateWhat(w.Validate.Mode)
}

// validateWhat says what sync does with a validation mode.
func validateWhat(m spec.ValidateMode) string {
	switch m {
	case spec.ValidateFast:
		return "rows applied from then on are read back from the target by key (present or absent as the binlog says); rows that differ are reported in status, not repaired, and sync goes on"
	case spec.ValidateFull:
		return "rows applied from then on are read back from the target and compared column by column with the binlog; rows that differ are reported in status, not repaired, and sync goes on"
	}
	return "applied rows are no longer read back; the differences already recorded stay in the target's dmplan_meta.validation_error"
}

// waitingOf lists the sources among names that have no agent.
func (d *differ) waitingOf(sources []string) []string {
	var out []string
	for _, s := range sources {
		if d.waiting[s] {
			out = append(out, s)
		}
	}
	return out
}
