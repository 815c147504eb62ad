package spec

import "time"

// APIVersion is the only apiVersion this build reads.
const APIVersion = "dmplan/v1"

// Kinds of documents.
const (
	KindSource = "Source"
	KindTask   = "Task"
)

// Mode says which units a task runs.
type Mode string

const (
	ModeFull        Mode = "full"        // dump + load, then finished
	ModeIncremental Mode = "incremental" // sync only
	ModeAll         Mode = "all"         // dump + load, then sync from the snapshot
)

// Stage is the desired (or observed) stage of a task's subtasks.
type Stage string

const (
	StageRunning Stage = "running"
	StagePaused  Stage = "paused"
	StageStopped Stage = "stopped"
)

// ValidateMode is how the sync unit checks the rows it applied
// (docs/validate.md): "" (written none) does not check; fast reads each
// changed row's key back from the target (the row is there, or absent, as
// it should be); full compares every column with the binlog's after-image.
type ValidateMode string

const (
	ValidateNone ValidateMode = ""
	ValidateFast ValidateMode = "fast"
	ValidateFull ValidateMode = "full"
)

// String is the mode as the YAML writes it ("none" for the zero value).
func (m ValidateMode) String() string {
	if m == ValidateNone {
		return "none"
	}
	return string(m)
}

// ValidateConfig is a task's continuous validation.
type ValidateConfig struct {
	Mode ValidateMode `json:"mode,omitempty"`
}

// Flavor is the kind of server a Source is. Empty means "detect".
type Flavor string

const (
	FlavorMySQL   Flavor = "mysql"
	FlavorMariaDB Flavor = "mariadb"
)

// Secret is a password as dmplan keeps it: the name of the environment
// variable that holds it and a salted digest of its value, so that a change
// can be detected and shown (masked) without the value ever being stored.
// The zero Secret means "no password".
type Secret struct {
	Ref    string `json:"ref,omitempty"`    // environment variable name, e.g. SOURCE_PASSWORD
	Digest string `json:"digest,omitempty"` // see Digest; "" when the value is empty
}

// IsZero reports whether no password is set.
func (s Secret) IsZero() bool { return s.Ref == "" && s.Digest == "" }

// String never prints the value; it shows the reference only.
func (s Secret) String() string {
	if s.IsZero() {
		return "(none)"
	}
	return "${" + s.Ref + "}"
}

// Endpoint is a MySQL/MariaDB server address and credentials.
type Endpoint struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	User     string `json:"user"`
	Password Secret `json:"password,omitzero"`
	TLS      *TLS   `json:"tls,omitempty"` // nil: no TLS settings (the driver's default, plain text)
}

// TLSMode says how a connection to a MySQL/MariaDB server uses TLS, with
// the meanings of the mysql client's --ssl-mode.
type TLSMode string

const (
	TLSDisabled       TLSMode = "disabled"        // plain text
	TLSPreferred      TLSMode = "preferred"       // TLS when the server offers it, unverified
	TLSRequired       TLSMode = "required"        // TLS or fail, unverified
	TLSVerifyCA       TLSMode = "verify-ca"       // TLS, the server's chain checked against CA
	TLSVerifyIdentity TLSMode = "verify-identity" // verify-ca, and the host name matches the certificate
)

// TLS is the TLS of an endpoint. The files are paths on the agents' (and
// verify's) machines: they are read there, and never enter etcd but as
// these paths.
type TLS struct {
	Mode TLSMode `json:"mode"`
	CA   string  `json:"ca,omitempty"`   // PEM CA bundle; required by verify-ca and verify-identity
	Cert string  `json:"cert,omitempty"` // PEM client certificate, with Key
	Key  string  `json:"key,omitempty"`
}

// Source is an upstream MySQL/MariaDB server.
type Source struct {
	Name string `json:"name"`
	// Annotations are metadata.annotations (annotations.go); nil when none.
	Annotations map[string]string `json:"annotations,omitempty"`
	Endpoint
	Flavor Flavor `json:"flavor,omitempty"`
	Worker string `json:"worker,omitempty"` // pinned agent; "" means any
	Relay  *Relay `json:"relay,omitempty"`  // nil: no relay (docs/relay.md)
}

// Relay is a Source's relay log: one local copy of its binlog, on the
// agent bound to it, that the source's subtasks read (docs/relay.md).
type Relay struct {
	Enabled bool `json:"enabled" yaml:"enabled"`
	// Retain is how long a file every subtask has passed is kept, as Go
	// writes a duration ("72h"); "" is DefaultRelayRetain.
	Retain string `json:"retain,omitempty" yaml:"retain,omitempty"`
}

// DefaultRelayRetain is how long relay files every subtask has passed are
// kept when spec.relay.retain is not given.
const DefaultRelayRetain = "72h"

// RelayOn reports whether the source has its relay enabled.
func (s Source) RelayOn() bool { return s.Relay != nil && s.Relay.Enabled }

// RetainFor is the relay's retain time (DefaultRelayRetain when not given).
func (r Relay) RetainFor() time.Duration {
	v := r.Retain
	if v == "" {
		v = DefaultRelayRetain
	}
	d, _ := time.ParseDuration(v)
	return d
}

// Route maps source tables matching From ("db.table" pattern) to the
// target table To ("db.table").
type Route struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// StartPos is where incremental sync begins for one source. Either GTID, or
// BinlogFile + BinlogPos, or Time (RFC 3339, normalised to UTC: the first
// transaction stamped at or after it, as DM's --start-time), or none (the
// source's position when an agent first takes the subtask).
type StartPos struct {
	GTID       string `json:"gtid,omitempty"`
	BinlogFile string `json:"binlogFile,omitempty"`
	BinlogPos  uint32 `json:"binlogPos,omitempty"`
	Time       string `json:"time,omitempty"`
}

// DumpConfig tunes the dump and load units.
type DumpConfig struct {
	Threads int `json:"threads"`
}

// SyncConfig tunes the sync unit.
type SyncConfig struct {
	Workers int `json:"workers"`
	Batch   int `json:"batch"`
}

// Task copies tables from its sources to one target.
type Task struct {
	Name string `json:"name"`
	// Annotations are metadata.annotations (annotations.go); nil when none.
	Annotations map[string]string   `json:"annotations,omitempty"`
	Mode        Mode                `json:"mode"`
	Stage       Stage               `json:"stage"`
	Target      Endpoint            `json:"target"`
	Sources     []string            `json:"sources"` // sorted, unique
	Tables      []string            `json:"tables"`  // in order: last match wins
	Routes      []Route             `json:"routes,omitempty"`
	Start       map[string]StartPos `json:"start,omitempty"`
	Dump        DumpConfig          `json:"dump"`
	Sync        SyncConfig          `json:"sync"`
	// AcceptLostCascades are table patterns (canonical, in order) of source
	// tables whose foreign-key cascades the user accepts the target may not
	// reproduce; any other such table stops the subtask (docs/units.md).
	AcceptLostCascades []string `json:"acceptLostCascades,omitempty"`
	// Validate: the sync unit reads the rows it applied back from the
	// target and compares them with the source's (docs/validate.md).
	Validate ValidateConfig `json:"validate,omitzero"`
	// Filters is the binlog event filter (internal/binlogfilter), in order.
	Filters []FilterRule `json:"filters,omitempty"`
	// OnlineDDL: the zero value is on, with DM's shadow and trash rules.
	OnlineDDL OnlineDDL `json:"onlineDDL,omitzero"`
	// ShardMode and ShardDDL: shard DDL coordination (taskshard.go).
	ShardMode ShardMode `json:"shardMode,omitempty"`
	ShardDDL  ShardDDL  `json:"shardDDL,omitzero"`
}

// Defaults applied by the loader when a field is absent.
const (
	DefaultPort        = 3306
	DefaultDumpThreads = 4
	DefaultSyncWorkers = 8
	DefaultSyncBatch   = 100
)

// Set is a loaded, validated desired state. Sources and Tasks are sorted by
// name. Origin maps "Source/NAME" and "Task/NAME" to the "file:line" of the
// document that declared it, for messages.
type Set struct {
	Sources []Source
	Tasks   []Task
	Origin  map[string]string
}
