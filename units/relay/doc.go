// Package relay keeps a local copy of a source's binlog (docs/relay.md):
// files with the source's own names and byte offsets, an index of the
// files held, and a checkpoint (relay.meta) of what is written and
// fsynced. A Writer appends the events a binlog stream delivers; a Reader
// reads them back as go-mysql events, following the files as they grow, so
// a subtask's sync can read from the relay instead of opening a stream of
// its own. Purge decides which files may go. The package does no SQL and
// knows nothing of subtasks: units runs the relay and says what is needed.
package relay
