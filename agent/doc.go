// Package agent is the worker process of dmplan: Run registers the agent
// under an etcd lease, keeps the lease alive, watches the applied state
// and runs, through a reconciler.Loop, the units of every subtask whose
// source is bound to it. It reports each subtask's status under its lease
// (throttled), and takes part in an etcd election whose winner moves
// sources off agents whose lease expired and binds waiting sources
// (failover without apply), through the same store.Apply every apply uses.
//
// Fencing: an agent that loses its lease — etcd no longer knows it, or
// 4/5 of the TTL passed since it sent the last keepalive etcd answered
// (etcd unreachable or slow) —
// cancels all its units at once, before the lease can expire on the
// server, so two agents never run one source; then it registers again
// under a new lease and reconciles from scratch (units resume from their
// checkpoints in the target).
//
// Passwords come from the agent's own environment (Config.Getenv, which
// the command line backs with an optional --env-file re-read on every
// reconcile, so a rotated password reaches a running agent). The value's
// digest must match the applied one (spec.Hasher, with the installation's salt); otherwise the subtask
// goes to stage error. Values are never logged or reported.
//
// docs/agent.md describes the behaviour; docs/status-format.md the status.
package agent
