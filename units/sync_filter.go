package units

import (
	"fmt"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dmplan/dmplan/internal/binlogfilter"
	"github.com/dmplan/dmplan/units/ddl"
)

// The binlog event filter (spec.filters, internal/binlogfilter) is asked
// after the table filter has selected a table and before routes rename
// it, with the source's names: for each rows event, by its kind, and for
// each statement the DDL planner would replicate, by its kind, its source
// tables (or database) and its text. An ignored event is read and passed
// over like an event of a table the filter does not select: the
// checkpoint moves past it with the transaction it belongs to, so it is
// never applied, after a restart neither. An error rule stops the subtask
// with a permanent error at that event; the checkpoint stays before it.

// rowsEvent is the filter's event of a rows event.
func rowsEvent(e *replication.RowsEvent) (binlogfilter.Event, bool) {
	switch e.Type() {
	case replication.EnumRowsEventTypeInsert:
		return binlogfilter.Insert, true
	case replication.EnumRowsEventTypeUpdate:
		return binlogfilter.Update, true
	case replication.EnumRowsEventTypeDelete:
		return binlogfilter.Delete, true
	}
	return "", false
}

// filterRows decides a rows event of a selected table: skip is true when
// a rule drops it.
func (s *syncer) filterRows(e *replication.RowsEvent, schema, table string, pos uint32) (skip bool, err error) {
	if s.events.Empty() {
		return false, nil
	}
	ev, ok := rowsEvent(e)
	if !ok {
		return false, nil
	}
	d := s.events.Decide(ev, schema, table, "")
	switch d.Action {
	case binlogfilter.Ignore:
		s.stats.rowsFiltered.Add(int64(len(e.Rows)))
		return true, nil
	case binlogfilter.Error:
		return false, s.filterError(d, ev, quoteTable(schema, table), pos)
	}
	return false, nil
}

// filterStatement decides a statement the DDL planner would replicate:
// skip is true when the rules drop it. A statement about several tables
// that the rules decide differently stops the subtask: it is one event in
// the binlog and cannot be applied in part.
func (s *syncer) filterStatement(p *ddl.Plan, query string, pos uint32) (skip bool, err error) {
	if s.events.Empty() {
		return false, nil
	}
	ev, ok := binlogfilter.OfStatement(p.Kind)
	if !ok {
		return false, nil
	}
	type subject struct{ db, table string }
	var subs []subject
	for _, t := range p.Src {
		subs = append(subs, subject{t.Schema, t.Name})
	}
	if len(subs) == 0 {
		for _, db := range p.DBs {
			subs = append(subs, subject{db, ""})
		}
	}
	ignored, passed := "", ""
	for _, sub := range subs {
		name := quoteTable(sub.db, sub.table)
		if sub.table == "" {
			name = QuoteIdent(sub.db)
		}
		d := s.events.Decide(ev, sub.db, sub.table, query)
		switch d.Action {
		case binlogfilter.Error:
			return false, s.filterError(d, ev, name, pos)
		case binlogfilter.Ignore:
			ignored = name
		default:
			passed = name
		}
	}
	switch {
	case ignored != "" && passed != "":
		return false, Permanent(fmt.Errorf("sync %s/%s: %s at %s:%d: spec.filters drop it for %s but not for %s, and one statement cannot be applied in part; "+
			"change the rules so that they decide alike for every table it names, or run such statements one table at a time on the source",
			s.cfg.Task, s.cfg.Source, p.Kind, s.file, pos, ignored, passed))
	case ignored != "":
		s.stats.ddlFiltered.Add(1)
		s.log.Info("DDL dropped by spec.filters", "kind", p.Kind, "tables", p.Src, "binlog", s.file, "pos", pos)
		return true, nil
	}
	return false, nil
}

func (s *syncer) filterError(d binlogfilter.Decision, ev binlogfilter.Event, what string, pos uint32) error {
	r := s.cfg.Filters[d.Rule]
	return Permanent(fmt.Errorf("sync %s/%s: %s on %s at %s:%d: spec.filters[%d] (action error: %s) stops the subtask here; "+
		"the checkpoint stays before this event: change or remove the rule to let sync go on",
		s.cfg.Task, s.cfg.Source, ev, what, s.file, pos, d.Rule, binlogfilter.Describe(r)))
}
