package store

import (
	"errors"
	"time"

	"github.com/dmplan/dmplan/planner"
	"github.com/dmplan/dmplan/spec"
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrStale: the state changed since the plan was computed (the head's
	// revision is not the plan's BaseRevision). Nothing was applied.
	ErrStale = errors.New("stale plan: the state changed since the plan was computed")
	// ErrWorkerExists: another live worker is registered under the name.
	ErrWorkerExists = errors.New("a live worker with this name is already registered")
	// ErrCorrupt: the keyspace does not hold what dmplan wrote (a missing
	// generation, a count that does not match its manifest, a bad value).
	ErrCorrupt = errors.New("etcd keyspace is corrupt")
	// ErrInvalid: a name or value cannot be stored (e.g. a name with '/').
	ErrInvalid = errors.New("invalid object for the store")
	// ErrClaimLost: the applier's staging claim expired before the head was
	// flipped (its lease was not kept alive); nothing was applied.
	ErrClaimLost = errors.New("staging claim lost before the head flip")
)

// HeadRecord is the value of the head key: which generation is current.
// Versions written by later generations, or by open ones, are not part of
// the state.
type HeadRecord struct {
	Gen        string    `json:"gen"`               // current generation ID
	PrevGen    string    `json:"prevGen,omitempty"` // the one before
	Seq        int64     `json:"seq"`               // history sequence of the apply that wrote it
	PlanDigest string    `json:"planDigest"`
	Time       time.Time `json:"time"` // the applier's clock
	// Counts are the objects of the state, so that a reader of the whole
	// state can check it read all of it.
	Counts Counts `json:"counts"`
	// Changed lists the objects this apply wrote (keys after /dmplan/v1/,
	// e.g. "task/shop") when there are at most 1,000 of them; nil when
	// there are more. A reader that holds what it read at PrevGen
	// re-reads only when one of these is its own.
	Changed []string `json:"changed"`
}

// Counts are the numbers of objects of each kind in a state.
type Counts struct {
	Sources int `json:"sources"`
	Tasks   int `json:"tasks"`
	Members int `json:"members"` // task x source pairs (subtasks)
	Bounds  int `json:"bounds"`
}

// ApplyRecord is one entry of the apply history: who applied what, when.
// The caller fills Time, User, Host, GitCommit (and may fill PlanDigest and
// Summary); Apply fills the rest.
type ApplyRecord struct {
	ID           string          `json:"id"`  // decimal Seq, shown to users
	Seq          int64           `json:"seq"` // 1, 2, ... in apply order
	Gen          string          `json:"gen"`
	BaseRevision int64           `json:"baseRevision"`
	Revision     int64           `json:"revision,omitempty"` // the head's revision after the apply; filled in on read
	Time         time.Time       `json:"time"`
	User         string          `json:"user"`
	Host         string          `json:"host"`
	GitCommit    string          `json:"gitCommit,omitempty"`
	PlanDigest   string          `json:"planDigest"`
	Summary      planner.Summary `json:"summary"`
	// Keys is the number of object versions the apply wrote (puts and
	// tombstones): what it cost, in proportion to the change.
	Keys int `json:"keys"`
	// Again is set (never stored) by Apply when this plan had been
	// applied already, by this record: nothing was written now.
	Again bool `json:"-"`
}

// StagingClaim is the value of a staging key: who is staging a generation.
type StagingClaim struct {
	Gen   string    `json:"gen"`
	User  string    `json:"user"`
	Host  string    `json:"host"`
	Time  time.Time `json:"time"`
	Lease int64     `json:"lease"`
}

// Snapshot is the state as of one etcd revision.
type Snapshot struct {
	State   planner.State
	Workers []planner.Worker // live registrations, sorted by name
	// Revision is the head's ModRevision (0 when nothing was ever
	// applied): put it into Plan.BaseRevision.
	Revision int64
	// ReadRevision is the store revision everything was read at.
	ReadRevision int64
	Gen          string // "" when nothing was ever applied
	Head         HeadRecord
}

// Progress of a subtask's current unit.
type Progress struct {
	TablesDone  int   `json:"tablesDone"`
	TablesTotal int   `json:"tablesTotal"`
	RowsDone    int64 `json:"rowsDone"`
	RowsTotal   int64 `json:"rowsTotal"`
	Bytes       int64 `json:"bytes"`
}

// SubtaskStatus is what an agent reports about one subtask it runs. It is
// attached to the agent's lease, so it disappears with the agent.
type SubtaskStatus struct {
	Task       string     `json:"task"`
	Source     string     `json:"source"`
	Worker     string     `json:"worker"`
	Stage      spec.Stage `json:"stage"`          // observed stage
	Unit       string     `json:"unit,omitempty"` // dump | load | sync
	Progress   Progress   `json:"progress"`
	BinlogFile string     `json:"binlogFile,omitempty"`
	BinlogPos  uint32     `json:"binlogPos,omitempty"`
	GTID       string     `json:"gtid,omitempty"`
	LagSeconds float64    `json:"lagSeconds"`
	Error      string     `json:"error,omitempty"`
	// Orphaned lists the target tables ("db.table") the subtask wrote
	// under earlier routes and writes no more; their rows stay.
	Orphaned []string `json:"orphaned,omitempty"`
	// DivergentChanges counts the row changes sync found the target
	// diverged on (the row it changed was missing or not alone) since the
	// unit started (units.Progress.Divergent).
	DivergentChanges int64 `json:"divergentChanges,omitempty"`
	// Validation is what sync's validator found (spec.validate); nil when
	// validation is off or sync is not running.
	Validation *Validation `json:"validation,omitempty"`
	// FilteredEvents counts the row changes and statements spec.filters
	// dropped since the unit started (units.Progress.Filtered).
	FilteredEvents int64 `json:"filteredEvents,omitempty"`
	// ConfigFingerprint is the digest of the applied config this status
	// reflects (planner.ConfigFingerprint of the subtask and its source as
	// applied): `dmplan status --wait` takes a status for done only when
	// it equals the digest of the config applied last. Empty from agents
	// older than the field.
	ConfigFingerprint string    `json:"configFingerprint,omitempty"`
	UpdatedAt         time.Time `json:"updatedAt"`
	// Relay is the source's relay on the agent, when spec.relay is on
	// (docs/relay.md): the same in every status of the source's subtasks.
	Relay *RelayStatus `json:"relay,omitempty"`
}

// Validation is the state of a subtask's continuous validation
// (docs/validate.md): rows counted since the unit started, but Failed,
// which counts the rows recorded in the target's
// dmplan_meta.validation_error.
type Validation struct {
	Mode    string          `json:"mode"`
	Checked int64           `json:"checked"`
	Pending int64           `json:"pending"`
	Failed  int64           `json:"failed"`
	Skipped int64           `json:"skipped"`
	Rows    []ValidationRow `json:"rows,omitempty"` // some failed rows, latest first (at most 20)
}

// ValidationRow is a row that differs on the target.
type ValidationRow struct {
	Table      string    `json:"table"`
	Key        string    `json:"key"`
	Kind       string    `json:"kind"` // missing | extra | changed
	Columns    []string  `json:"columns,omitempty"`
	BinlogFile string    `json:"binlogFile"`
	BinlogPos  uint32    `json:"binlogPos"`
	DetectedAt time.Time `json:"detectedAt"`
}

// RelayStatus is what an agent reports of a source's relay.
type RelayStatus struct {
	BinlogFile string  `json:"binlogFile,omitempty"` // the end of the newest file held
	BinlogPos  uint32  `json:"binlogPos,omitempty"`
	GTID       string  `json:"gtid,omitempty"`
	LagSeconds float64 `json:"lagSeconds"` // behind the source (0: caught up)
	DiskBytes  int64   `json:"diskBytes"`
	OldestFile string  `json:"oldestFile,omitempty"`
	Files      int     `json:"files"`
	Gone       string  `json:"gone,omitempty"` // files up to this one are lost for good, and why
	Error      string  `json:"error,omitempty"`
}
