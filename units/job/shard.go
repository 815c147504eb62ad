package job

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/dmplan/dmplan/internal/shardjoin"
)

// Shard modes (spec.shardMode): how DDL on a table that a route merges
// from several shards is coordinated (docs/shard-ddl.md).
const (
	ShardPessimistic = "pessimistic"
	ShardOptimistic  = "optimistic"
)

// ShardCoordinator keeps the DDL locks of merged target tables where
// every subtask of a task sees them (the agent implements it with etcd;
// units never import etcd). Every method is idempotent.
type ShardCoordinator interface {
	// Join records that a shard reached a DDL on a merged target table
	// and returns the lock after the join. A lock open with another DDL
	// is returned unchanged (the caller reports the conflict).
	Join(ctx context.Context, j ShardJoin) (ShardLock, error)
	// Lock returns the lock of a target table; ok is false when there is
	// none.
	Lock(ctx context.Context, task, target string) (l ShardLock, ok bool, err error)
	// Done records that the lock's owner executed ddl on the target.
	Done(ctx context.Context, task, target, ddl string) error
	// Ack records that a shard passed the executed DDL; the lock is
	// removed when every shard has.
	Ack(ctx context.Context, task, target, shard, ddl string) error
}

// ShardJoin is one shard reaching a DDL.
type ShardJoin struct {
	Task    string
	Target  string   // the target table, "db.table" (unquoted)
	Sources []string // every source of the task, sorted
	Source  string
	// Tables are the source's tables routed to Target ("db.table"): the
	// shards this source contributes.
	Tables []string
	Table  string // the shard that reached the DDL
	DDL    string // the statement as the target would run it, normalised
	// Force: spec.shardDDL.resolve says execute: the lock needs no other shard.
	Force bool
}

// ShardLock is a DDL lock: a DDL on a merged target table that the
// shards reach one by one.
type ShardLock struct {
	Task   string    `json:"task"`
	Target string    `json:"target"`
	DDL    string    `json:"ddl"`
	Since  time.Time `json:"since"`
	// Sources: every source of the task; Expected: per source that has
	// reported them, its shards ("db.table"). A source missing from
	// Expected has not reached the DDL on any shard yet.
	Sources  []string            `json:"sources"`
	Expected map[string][]string `json:"expected"`
	// Joined: shard ("source:db.table") -> when it reached the DDL.
	Joined map[string]time.Time `json:"joined"`
	// Owner: the shard whose join completed the lock; it executes the DDL.
	Owner string `json:"owner,omitempty"`
	// Executed: the owner ran the DDL on the target.
	Executed bool `json:"executed,omitempty"`
	// Acked: shards that passed the executed DDL.
	Acked []string `json:"acked,omitempty"`
}

// ShardName names a shard in a lock: "source:db.table".
func ShardName(source, table string) string { return source + ":" + table }

// Complete reports whether every shard of every source has joined.
func (l ShardLock) Complete() bool {
	for _, src := range l.Sources {
		tables, ok := l.Expected[src]
		if !ok {
			return false
		}
		for _, t := range tables {
			if _, ok := l.Joined[ShardName(src, t)]; !ok {
				return false
			}
		}
	}
	return len(l.Sources) > 0
}

// Awaited lists the shards that have not reached the DDL yet, a source
// that has reported none as "source:*".
func (l ShardLock) Awaited() []string {
	var out []string
	for _, src := range l.Sources {
		tables, ok := l.Expected[src]
		if !ok {
			out = append(out, src+":*")
			continue
		}
		for _, t := range tables {
			if _, ok := l.Joined[ShardName(src, t)]; !ok {
				out = append(out, ShardName(src, t))
			}
		}
	}
	return out
}

// ShardSchemas keeps, for optimistic shard mode, the definitions of the
// shards of merged target tables where every subtask of a task sees them
// (the agent implements it with etcd; docs/shard-ddl.md).
type ShardSchemas interface {
	// Schema returns the record of a target table; ok is false when no
	// shard of it has run a DDL yet.
	Schema(ctx context.Context, task, target string) (s ShardSchema, ok bool, err error)
	// UpdateSchema applies f to the record (ok false: none yet) until its
	// compare-and-set wins; f returns the new record and whether to write
	// it at all. It returns the record as stored after.
	UpdateSchema(ctx context.Context, task, target string, f func(s ShardSchema, ok bool) (*ShardSchema, bool)) (ShardSchema, error)
}

// ShardSchema is the optimistic coordination record of a merged target
// table: the table's definition before any shard changed it (Base), and
// each shard's definition as of its last DDL. A shard missing from
// Shards has Base. The target's schema is the join of them all.
type ShardSchema struct {
	Task   string          `json:"task"`
	Target string          `json:"target"`
	Base   shardjoin.Table `json:"base"`
	Since  time.Time       `json:"since"`
	// Sources and Expected as in ShardLock: the shards known so far; a
	// source missing from Expected counts as one shard with Base.
	Sources  []string              `json:"sources"`
	Expected map[string][]string   `json:"expected"`
	Shards   map[string]ShardTable `json:"shards,omitempty"`
	// Conflicts: shard -> the DDL that stopped it.
	Conflicts map[string]ShardConflict `json:"conflicts,omitempty"`
}

// ShardTable is a shard's definition after the last DDL it ran.
type ShardTable struct {
	Table shardjoin.Table `json:"table"`
	// At is the DDL's binlog position ("file:pos"): a DDL read again after
	// a restart finds its decision here.
	At  string `json:"at"`
	DDL string `json:"ddl"`
	// Touched: what the DDL changed (shardjoin.Decision); Resolved: the
	// spec.shardDDL.resolve action that decided it, if one did.
	Touched  []string  `json:"touched,omitempty"`
	Resolved string    `json:"resolved,omitempty"`
	Since    time.Time `json:"since"`
}

// ShardConflict is a DDL that stopped its shard.
type ShardConflict struct {
	DDL    string    `json:"ddl"`
	Reason string    `json:"reason"`
	With   string    `json:"with,omitempty"`
	Since  time.Time `json:"since"`
}

// Others lists every shard but self with its definition; a source that
// reported no shards is one shard "source:*" with Base, beside the
// definitions known of its shards all the same (a record created again
// from the shard views, docs/shard-ddl.md).
func (s ShardSchema) Others(self string) []shardjoin.Shard {
	var out []shardjoin.Shard
	for _, src := range s.Sources {
		tables, ok := s.Expected[src]
		if !ok {
			out = append(out, shardjoin.Shard{Name: src + ":*", Table: s.Base})
			var known []string
			for n := range s.Shards {
				if strings.HasPrefix(n, src+":") && n != self {
					known = append(known, n)
				}
			}
			slices.Sort(known)
			for _, n := range known {
				out = append(out, shardjoin.Shard{Name: n, Table: s.Shards[n].Table})
			}
			continue
		}
		for _, t := range tables {
			if n := ShardName(src, t); n != self {
				out = append(out, shardjoin.Shard{Name: n, Table: s.Table(n)})
			}
		}
	}
	return out
}

// Table is a shard's definition.
func (s ShardSchema) Table(shard string) shardjoin.Table {
	if t, ok := s.Shards[shard]; ok {
		return t.Table
	}
	return s.Base
}

// Joined is the target table's schema: the join of every shard's.
func (s ShardSchema) Joined() shardjoin.Table {
	var all []shardjoin.Table
	for _, o := range s.Others("") {
		all = append(all, o.Table)
	}
	if len(all) == 0 {
		return s.Base
	}
	return shardjoin.Join(all)
}
