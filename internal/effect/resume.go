package effect

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
)

// The units keep, next to a subtask's checkpoints in the target, a record
// of the config those checkpoints belong to (dmplan_meta.subtask_config):
// FreshKey and the table filter. When a unit starts, ResumeOf compares
// that record with its config. The target's own address is not in the
// record (the record lives in the target): a changed target simply holds
// no checkpoints yet, or this subtask's checkpoints from an earlier time.

// FreshKey hashes the fields of c whose change is Fresh and that the
// target-side record can see: the mode, the routes (modes all and full)
// and the start position (mode incremental). Its bytes are a stored
// format: keep them.
func FreshKey(c Config) string {
	k := struct {
		Mode   Mode
		Routes []Route   `json:",omitempty"`
		Start  *Position `json:",omitempty"`
	}{Mode: c.Mode}
	if c.Mode == ModeIncremental {
		k.Start = c.Start
		if k.Start == nil {
			k.Start = &Position{}
		}
	} else {
		k.Routes = c.Routes
	}
	b, _ := json.Marshal(k) // plain strings and numbers: cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Record is what the target holds of the config a subtask's checkpoints
// belong to.
type Record struct {
	FreshKey string
	Tables   []string
}

// RecordOf is the record of config c.
func RecordOf(c Config) Record { return Record{FreshKey: FreshKey(c), Tables: c.Tables} }

// Resume is what a unit does with its checkpoints before it runs.
type Resume int

const (
	// ResumeFirst: nothing recorded (a first run): the checkpoints, if
	// any, are taken as belonging to the config; the record is written.
	ResumeFirst Resume = iota
	// ResumeKeep: continue from the checkpoints.
	ResumeKeep
	// ResumeStartOver: discard the checkpoints (modes all/full: empty the
	// tables this subtask created and dump again; incremental: sync from
	// the start position), then record the config.
	ResumeStartOver
	// ResumeCopyNewTables: modes all/full, the filter changed: dump and
	// load the tables it newly matches from a new snapshot, then record it.
	ResumeCopyNewTables
	// ResumeRecordTables: mode incremental, the filter changed: continue
	// from the checkpoints (tables newly matched are replicated from
	// there on) and record the new filter.
	ResumeRecordTables
)

func (r Resume) String() string {
	switch r {
	case ResumeFirst:
		return "first run: record the config"
	case ResumeKeep:
		return "continue from the checkpoints"
	case ResumeStartOver:
		return "discard the checkpoints and start over"
	case ResumeCopyNewTables:
		return "copy newly matched tables, then continue from the checkpoints"
	case ResumeRecordTables:
		return "continue from the checkpoints; record the new table filter"
	}
	return "unknown"
}

// ResumeOf decides what a unit starting with config c does, given the
// record kept with its checkpoints (nil when there is none).
func ResumeOf(rec *Record, c Config) Resume {
	switch {
	case rec == nil:
		return ResumeFirst
	case rec.FreshKey != FreshKey(c):
		return ResumeStartOver
	case !slices.Equal(normalTables(rec.Tables), normalTables(c.Tables)):
		if c.Mode == ModeIncremental {
			return ResumeRecordTables
		}
		return ResumeCopyNewTables
	}
	return ResumeKeep
}

func normalTables(t []string) []string {
	if t == nil {
		return []string{}
	}
	return t
}
