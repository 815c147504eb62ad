package store

import (
	"github.com/dmplan/dmplan/planner"
)

// Test hooks, visible to the store_test package only.

// SetStageHook makes s call f before each staging transaction.
func SetStageHook(s *Store, f func(chunk int)) { s.stageHook = f }

// SetFlipHook makes s call f after each commit transaction; an error
// from f is taken as the reply of that transaction lost.
func SetFlipHook(s *Store, f func(succeeded bool) error) { s.flipHook = f }

// SetDirectMax sets how many versions an apply writes without staging (0:
// always stage).
func SetDirectMax(s *Store, n int) { s.directMax = n }

// Keys for tests that look at the raw keyspace.
const (
	Prefix     = prefix
	KeyHead    = keyHead
	KeyInstall = keyInstall
	PfxStaging = pfxStaging
	PfxOpen    = pfxOpen
	PfxLog     = pfxLog
	PfxSource  = pfxSource
	PfxTask    = pfxTask
	PfxMember  = pfxMember
	PfxBound   = pfxBound
)

// Delta is the number of versions an apply from cur to want writes.
func Delta(cur, want planner.State) int {
	kvs, err := delta(cur, want)
	if err != nil {
		panic(err)
	}
	return len(kvs)
}

// EncodedSize is the number of key and value bytes the objects of st
// take, and the part Read reads (sources, tasks, bounds).
func EncodedSize(st planner.State) (all, read int64) {
	kvs, err := delta(planner.State{}, st)
	if err != nil {
		panic(err)
	}
	for _, e := range kvs {
		n := int64(len(e.key) + 1 + numWidth + len(e.val))
		all += n
		if e.key[:len(pfxMember)] != pfxMember {
			read += n
		}
	}
	return all, read
}
