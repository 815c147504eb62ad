// Package binlogfilter is the binlog event filter of a task
// (spec.filters), with the rule semantics of DM's binlog event filter:
// each rule names table patterns, events and optional RE2 regular
// expressions on statement text, and an action.
//
//   - ignore: an event the rule lists, or a statement whose text one of
//     its regular expressions matches, is dropped;
//   - error: such an event stops the subtask with an error naming the rule;
//   - do: where do rules match a table, only the events they list (and,
//     when they give regular expressions, only statements whose text
//     matches one) pass; every other event of the table is dropped.
//
// When several rules match a table, ignore comes before error, and error
// before do (as in DM). The sync unit asks after the table filter has
// selected the table and before routes rename it, with the source's names.
// A statement about a database (CREATE, ALTER, DROP DATABASE) is matched
// by the rules with a pattern whose database part matches it and whose
// table part is "*".
//
// The package is pure: the standard library and internal/tablefilter only.
// Contradictions and Unselected are the static checks spec runs.
package binlogfilter
