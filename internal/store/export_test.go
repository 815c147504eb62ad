package store

import (
	"strings"

	"github.com/dmplan/dmplan/planner"
)

// Test hooks, visible to the store_test package only.

// SetStageHook makes s call f before each staging transaction.
func SetStageHook(s *Store, f func(chunk int)) { s.stageHook = f }

// SetFlipHook makes s call f after each head flip transaction; an error
// from f is taken as the reply of that transaction lost.
func SetFlipHook(s *Store, f func(succeeded bool) error) { s.flipHook = f }

// Generations lists the generation IDs present in etcd.
var Generations = (*Store).generations

// Keys for tests that look at the raw keyspace.
const (
	Prefix     = prefix
	KeyHead    = keyHead
	KeyInstall = keyInstall
	PfxStaging = pfxStaging
	PfxGen     = pfxGen
)

// EncodedSize is the number of key and value bytes a generation of st
// takes: all of it, and the part Read reads (sources, tasks, bounds).
func EncodedSize(st planner.State) (all, read int64) {
	kvs, _, err := encodeGen(st)
	if err != nil {
		panic(err)
	}
	for _, e := range kvs {
		n := int64(len(genPrefix(genID(1))) + len(e.key) + len(e.val))
		all += n
		if strings.HasPrefix(e.key, genSource) || strings.HasPrefix(e.key, genTask) || strings.HasPrefix(e.key, genBound) {
			read += n
		}
	}
	return all, read
}
