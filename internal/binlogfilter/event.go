package binlogfilter

import "strings"

// Event is a kind of binlog event as rules name it.
type Event string

// The events a rule can list, in the order they are shown.
const (
	Insert         Event = "insert"
	Update         Event = "update"
	Delete         Event = "delete"
	CreateDatabase Event = "create database"
	DropDatabase   Event = "drop database"
	CreateTable    Event = "create table"
	DropTable      Event = "drop table"
	TruncateTable  Event = "truncate table"
	RenameTable    Event = "rename table"
	AlterTable     Event = "alter table"
	CreateIndex    Event = "create index"
	DropIndex      Event = "drop index"
	// AlterDatabase is not listed by name: only "all ddl" and "all" cover it.
	AlterDatabase Event = "alter database"
)

// Groups a rule can list instead of single events.
const (
	AllDML = "all dml"
	AllDDL = "all ddl"
	All    = "all"
)

var (
	dmlEvents = []Event{Insert, Update, Delete}
	ddlEvents = []Event{CreateDatabase, DropDatabase, CreateTable, DropTable, TruncateTable,
		RenameTable, AlterTable, CreateIndex, DropIndex, AlterDatabase}
)

// EventNames are the names a rule's events may use, groups first.
var EventNames = []string{All, AllDML, AllDDL,
	string(Insert), string(Update), string(Delete),
	string(CreateDatabase), string(DropDatabase), string(CreateTable), string(DropTable),
	string(TruncateTable), string(RenameTable), string(AlterTable), string(CreateIndex), string(DropIndex)}

// DML reports whether e is a row change.
func (e Event) DML() bool { return e == Insert || e == Update || e == Delete }

// Expand returns the events a name stands for (a group's members), or nil
// when name is not an event name. Names are compared case-insensitively
// with runs of spaces read as one.
func Expand(name string) []Event {
	switch n := normalName(name); n {
	case All:
		return append(append([]Event(nil), dmlEvents...), ddlEvents...)
	case AllDML:
		return append([]Event(nil), dmlEvents...)
	case AllDDL:
		return append([]Event(nil), ddlEvents...)
	case string(AlterDatabase):
		return nil
	default:
		for _, e := range append(append([]Event(nil), dmlEvents...), ddlEvents...) {
			if string(e) == n {
				return []Event{e}
			}
		}
	}
	return nil
}

// Canonical returns the canonical spelling of an event name ("" when it is
// not one).
func Canonical(name string) string {
	if Expand(name) == nil {
		return ""
	}
	return normalName(name)
}

func normalName(name string) string { return strings.Join(strings.Fields(strings.ToLower(name)), " ") }

// OfStatement is the event of a DDL statement of the given kind ("ALTER
// TABLE", as units/ddl names them); ok is false for a kind the filter does
// not know.
func OfStatement(kind string) (Event, bool) {
	e := Event(normalName(kind))
	for _, d := range ddlEvents {
		if d == e {
			return e, true
		}
	}
	return "", false
}
