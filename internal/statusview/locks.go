package statusview

import (
	"slices"
	"strings"
	"time"

	"github.com/dmplan/dmplan/units/job"
)

// ShardLock is a shard DDL lock as status shows it.
type ShardLock struct {
	Task   string `json:"task"`
	Target string `json:"target"` // the merged target table, db.table
	DDL    string `json:"ddl"`
	// State: "waiting" (shards awaited), "executing" (every shard reached
	// it; its owner runs it) or "replaying" (executed; shards replay what
	// they held).
	State   string    `json:"state"`
	Owner   string    `json:"owner,omitempty"`
	Reached []string  `json:"reached"` // shards, source:db.table
	Awaited []string  `json:"awaited"` // shards; source:* when a source has reached none
	Since   time.Time `json:"since"`
}

// Locks turns the stored locks into rows, of one task when task is set.
func Locks(ls []job.ShardLock, task string) []ShardLock {
	var out []ShardLock
	for _, l := range ls {
		if task != "" && l.Task != task {
			continue
		}
		r := ShardLock{Task: l.Task, Target: l.Target, DDL: l.DDL, Owner: l.Owner, Awaited: l.Awaited(), Since: l.Since}
		for s := range l.Joined {
			r.Reached = append(r.Reached, s)
		}
		slices.Sort(r.Reached)
		switch {
		case l.Executed:
			r.State = "replaying"
		case l.Owner != "":
			r.State = "executing"
		default:
			r.State = "waiting"
		}
		out = append(out, r)
	}
	return out
}

// ShardSchema is the optimistic coordination of a merged target table
// as status shows it (docs/shard-ddl.md).
type ShardSchema struct {
	Task   string `json:"task"`
	Target string `json:"target"`
	// Joined is the target's schema: the join of every shard's, in one line.
	Joined string `json:"joined"`
	// Shards: every shard known; Changed: those that ran a DDL, with
	// their last one.
	Shards    int             `json:"shards"`
	Changed   []ShardChange   `json:"changed,omitempty"`
	Conflicts []ShardConflict `json:"conflicts,omitempty"`
	Since     time.Time       `json:"since"`
}

// ShardChange is a shard's last DDL.
type ShardChange struct {
	Shard    string    `json:"shard"`
	DDL      string    `json:"ddl"`
	Resolved string    `json:"resolved,omitempty"` // the spec.shardDDL.resolve action that decided it
	Since    time.Time `json:"since"`
}

// ShardConflict is a shard stopped by a DDL that conflicts with another's.
type ShardConflict struct {
	Shard  string    `json:"shard"`
	DDL    string    `json:"ddl"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

// Schemas turns the stored optimistic records into rows, of one task when
// task is set.
func Schemas(rs []job.ShardSchema, task string) []ShardSchema {
	var out []ShardSchema
	for _, r := range rs {
		if task != "" && r.Task != task {
			continue
		}
		row := ShardSchema{Task: r.Task, Target: r.Target, Joined: r.Joined().String(), Shards: len(r.Others("")), Since: r.Since}
		for s, e := range r.Shards {
			row.Changed = append(row.Changed, ShardChange{Shard: s, DDL: e.DDL, Resolved: e.Resolved, Since: e.Since})
		}
		slices.SortFunc(row.Changed, func(a, b ShardChange) int { return strings.Compare(a.Shard, b.Shard) })
		for s, c := range r.Conflicts {
			row.Conflicts = append(row.Conflicts, ShardConflict{Shard: s, DDL: c.DDL, Reason: c.Reason, Since: c.Since})
		}
		slices.SortFunc(row.Conflicts, func(a, b ShardConflict) int { return strings.Compare(a.Shard, b.Shard) })
		out = append(out, row)
	}
	return out
}
