// Package ddl decides what a statement of a source's binlog becomes on the
// target: which tables and databases it touches, the statement with its
// table names routed, or nothing when it is not replicated. It reads
// statements with a small lexer (quoted names, strings, comments,
// executable comments, ANSI_QUOTES and NO_BACKSLASH_ESCAPES) rather than a
// full SQL grammar: MariaDB and MySQL DDL only has to be located, never
// understood, and the target validates it.
//
// The package is pure: no SQL connection, no I/O. The sync unit gives it
// the task's filter and routes through Resolver, runs the Plan it returns,
// and treats its errors as permanent.
package ddl
