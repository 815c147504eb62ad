package statusview

import (
	"slices"
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
