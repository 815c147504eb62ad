// Package reconciler is the agent's decision and the loop that carries it
// out.
//
// Decide is pure: given what should run on this agent (Desired: each
// subtask's config, desired stage and config fingerprint) and what runs
// (Observed), it returns one Action per subtask: start, stop (pause or
// stop: the unit is cancelled, its checkpoint stays in the target),
// restart (the config changed: units take their config when they start,
// so tuning is applied by a restart too; internal/effect decides what a
// change does, the rule the plan's impact lines follow), fail (the config cannot be built, e.g. a password that
// differs from the applied one), forget (the subtask is no longer this
// agent's) or no-op. It reads no clock and does no I/O, so it is table- and
// golden-tested.
//
// Loop is level-based (controller-runtime style): on every wake-up — a new
// head in etcd, a unit that exited, a retry that fell due, or the periodic
// resync — it asks "what should run, what runs" again and acts on the
// difference, so a missed event costs latency, never correctness. A unit
// that fails with a transient error is restarted with exponential backoff;
// one that fails with job.ErrPermanent stays in stage "error", with its
// message, until its config or desired stage changes; a mode "full" unit
// that returns nil is "finished".
//
// Units are started through an injected job.RunFunc, so the control
// plane can be measured with a simulated unit (bench/agentscale).
package reconciler
