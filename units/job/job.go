package job

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/dmplan/dmplan/internal/binlogfilter"
	"github.com/dmplan/dmplan/internal/onlineddl"
)

// Endpoint is a server to connect to, with the password already resolved
// by the caller. Password is never logged, reported or put in an error.
type Endpoint struct {
	Host     string
	Port     int
	User     string
	Password string
	TLS      TLS
}

// Route sends source tables matching From ("db.table" pattern) to To ("db.table").
type Route struct{ From, To string }

// Position is a place in a source's binlog. GTID is the server's GTID set
// at that place (MariaDB "domain-server-seq,..." or MySQL "uuid:1-N,...").
type Position struct {
	File string `json:"file,omitempty"`
	Pos  uint32 `json:"pos,omitempty"`
	GTID string `json:"gtid,omitempty"`
}

// IsZero reports whether no position is set.
func (p Position) IsZero() bool { return p.File == "" && p.GTID == "" }

// Mode is which units a subtask runs: "full", "incremental" or "all".
type Mode string

const (
	ModeFull        Mode = "full"
	ModeIncremental Mode = "incremental"
	ModeAll         Mode = "all"
)

// Config is everything one subtask (one task x one source) needs.
type Config struct {
	Task   string // task name; with Source, names the checkpoint rows in dmplan_meta
	Source string // source name
	Mode   Mode

	From   Endpoint
	Flavor string // "mysql", "mariadb", or "" to detect from the server
	To     Endpoint

	Tables []string // table filter rules (internal/tablefilter syntax), in order
	Routes []Route

	// AcceptLostCascades are patterns (table-filter syntax) of source
	// tables whose foreign-key cascades the user accepts the target may
	// not reproduce (units/fk.go); any other such table fails the precheck.
	AcceptLostCascades []string

	// Filters is the binlog event filter (spec.filters); OnlineDDL says how
	// online schema change tools' tables are recognised (spec.onlineDDL).
	Filters   []binlogfilter.Rule
	OnlineDDL onlineddl.Config

	// Start is where incremental sync begins when no checkpoint exists;
	// zero means StartTime, else the source's position when the subtask
	// is first pinned (units.Pin, or units.Run).
	Start Position
	// StartTime, when Start is zero: sync begins at the first transaction
	// stamped at or after it; changes stamped less than a minute after it
	// are applied idempotently.
	StartTime time.Time

	DumpThreads int // parallel dump/load connections (default 4)
	SyncWorkers int // parallel appliers (default 8)
	SyncBatch   int // changes per target transaction (default 100)
	// Validate is how sync checks the rows it applied: "" (none), "fast"
	// (the row is on the target, or absent, as it should be) or "full"
	// (every column equals the binlog's after-image).
	Validate string

	// LinkTimeout is how long a unit waits for its source or target to
	// answer a trivial query before it gives the attempt up and retries
	// from its checkpoint (docs/faults.md); 0 means 10 s.
	LinkTimeout time.Duration
	// StallAfter is how long a run may get nowhere — sync with changes
	// waiting and no commit, or no progress before sync — before it says
	// what the target's sessions wait for (0: 20 s for sync, 30 s before).
	StallAfter time.Duration

	// ServerID is the replica server_id the binlog reader uses; it must be
	// unique among everything reading the source. 0 derives one from Task/Source.
	ServerID uint32

	// Relay, when set, is the source's relay (docs/relay.md): sync reads
	// the binlog from it instead of opening a stream of its own.
	Relay Relay

	// ShardMode is spec.shardMode ("", pessimistic or optimistic);
	// ShardSources are every source of the task; Shard keeps the DDL locks
	// of merged tables (the agent's, over etcd). Without Shard, DDL on
	// merged tables is applied by the first shard and tolerated after.
	ShardMode    string
	ShardSources []string
	Shard        ShardCoordinator
	// Schemas keeps the shards' definitions in optimistic mode.
	Schemas ShardSchemas
	// ShardResolve are spec.shardDDL.resolve: what to do with a DDL of a
	// merged target table, decided by the user.
	ShardResolve []ShardResolution
}

// ShardResolution is one entry of spec.shardDDL.resolve.
type ShardResolution struct {
	Table  string // the target table, "db.table"
	DDL    string // the statement, normalised (NormalizeDDL)
	Action string // "skip" | "execute"
}

// Relay is a local copy of a source's binlog that subtasks read (run by
// the agent bound to the source; units.Relay).
type Relay interface {
	// Dir is the relay directory (units/relay's files).
	Dir() string
	// Changed returns a channel closed when the relay may hold more.
	Changed() <-chan struct{}
}

// Progress is what a unit reports while it runs.
type Progress struct {
	Unit        string // "dump", "load", "sync", "" when finished
	TablesDone  int
	TablesTotal int
	RowsDone    int64
	RowsTotal   int64 // estimate for dump/load; 0 for sync
	Bytes       int64
	Position    Position // sync: last applied (checkpointed) position; dump: snapshot position
	Lag         time.Duration
	Finished    bool // full mode: dump and load are done
	// Divergent counts, since the unit started, the row changes whose
	// matched row count on the target differed from the source's (a row
	// missing or extra): the target has diverged from the source. Sync
	// goes on; the agent's log names the first 20 (table, binlog
	// position), `dmplan verify` finds the rows.
	Divergent int64
	// Validation is what sync's validator found (Config.Validate); nil
	// when validation is off or sync is not running.
	Validation *Validation
	// Filtered counts, since the unit started, the row changes and
	// statements spec.filters dropped (sync).
	Filtered int64
	Err      string // last transient error, if any (already redacted)
	// Orphaned lists the target tables ("db.table") this subtask wrote
	// under earlier routes and no longer writes into; their rows stay.
	// nil: not known by this report (keep the last known list); empty:
	// none. Reported once per start, after the tables are registered.
	Orphaned []string
}

// Validation is the state of the sync unit's validator (docs/validate.md).
type Validation struct {
	Mode string // "fast" or "full"
	// Checked counts the rows read back from the target and found as the
	// binlog says, since the unit started.
	Checked int64
	// Pending counts the rows applied and not yet confirmed: in flight,
	// or differing and being checked again.
	Pending int64
	// Failed counts the rows that still differed after every check: those
	// recorded in the target's dmplan_meta.validation_error (a row checked
	// fine later is removed), and those past its bound.
	Failed int64
	// Skipped counts the rows applied but not validated since the unit
	// started: tables without a NOT NULL unique key, rows that arrived
	// while the backlog was full, rows of a table a DDL changed first.
	Skipped int64
	// Rows are some of the failed rows, the latest first (at most 20).
	Rows []ValidationRow
}

// ValidationRow is one row that differs on the target.
type ValidationRow struct {
	Table   string   // target table, "db.table"
	Key     string   // e.g. "id=5" or "a=1,b=x" (bytes that are not text in hex)
	Kind    string   // "missing", "extra" or "changed"
	Columns []string // changed: the columns that differ
	// Position is the binlog position of the last change applied to the row.
	Position Position
	Detected time.Time
}

// Reporter receives progress. Implementations must be fast and safe for
// concurrent use; the units call it from several goroutines.
type Reporter interface {
	Report(Progress)
}

// ReporterFunc adapts a function to Reporter.
type ReporterFunc func(Progress)

// Report calls f.
func (f ReporterFunc) Report(p Progress) { f(p) }

// RunFunc is the shape of units.Run, for callers that want to substitute a
// simulation (benchmarks of the control plane only).
type RunFunc func(ctx context.Context, cfg Config, r Reporter) error

// TLS modes of an Endpoint, as the mysql client's --ssl-mode names them.
const (
	TLSDisabled       = "disabled"
	TLSPreferred      = "preferred"
	TLSRequired       = "required"
	TLSVerifyCA       = "verify-ca"
	TLSVerifyIdentity = "verify-identity"
)

// TLS is how an Endpoint uses TLS. The zero value is plain text. The files
// are read where the unit runs.
type TLS struct {
	Mode          string
	CA, Cert, Key string
}

// String names the endpoint for messages, without the password.
func (ep Endpoint) String() string {
	return ep.User + "@" + joinHostPort(ep.Host, ep.Port)
}

// joinHostPort is net.JoinHostPort, without importing net.
func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

// ErrPermanent marks errors that retrying cannot fix; the subtask stops
// (pauses) with the error visible. Wrap with Permanent.
var ErrPermanent = errors.New("permanent error")

type permanentError struct{ err error }

func (e permanentError) Error() string   { return e.err.Error() }
func (e permanentError) Unwrap() []error { return []error{e.err, ErrPermanent} }

// Permanent marks err as not worth retrying.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}
