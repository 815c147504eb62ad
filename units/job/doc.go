// Package job holds the contract between the agent and the units: what a
// subtask's units are given (Config, Endpoint, TLS, Route, Position, Mode),
// what they report (Progress, Reporter) and how they fail (Permanent). It
// does no I/O and imports only the standard library, so the agent's pure
// decision (package reconciler) can use these types without the SQL
// driver and binlog reader behind package units, which names them too.
package job
