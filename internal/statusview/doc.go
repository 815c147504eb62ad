// Package statusview builds what `dmplan status` shows: for every task and
// source, the desired state (from the applied generation) next to what the
// agents observe (their status reports), plus the live agents and the last
// applies. Building and rendering are pure; the caller reads etcd.
package statusview
