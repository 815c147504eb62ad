// Package store is the only package that knows dmplan's etcd keyspace
// (docs/keyspace.md). It reads the current state at one revision, applies a
// planner.Plan atomically, keeps apply history, registers workers and
// statuses under leases, and lets agents watch for new states.
//
// Apply writes the plan's desired state as a new immutable generation in as
// many small transactions as etcd's default limits require (128 operations,
// 1.5 MiB per request), then flips a single head key in one guarded
// transaction. Readers follow the head and read its generation at the same
// revision, so they see either the old state or the new one, never a mix,
// and an apply of any size is all or nothing. Concurrent applies race only
// on the head flip: the first wins, the others get ErrStale and remove what
// they staged. Generations left by crashed appliers are garbage-collected
// once their lease-bound staging claim has expired.
package store
