package store

// Test hooks, visible to the store_test package only.

// SetStageHook makes s call f before each staging transaction.
func SetStageHook(s *Store, f func(chunk int)) { s.stageHook = f }

// Generations lists the generation IDs present in etcd.
var Generations = (*Store).generations

// Keys for tests that look at the raw keyspace.
const (
	Prefix     = prefix
	KeyHead    = keyHead
	PfxStaging = pfxStaging
	PfxGen     = pfxGen
)
