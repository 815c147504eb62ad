// Package tablefilter matches MySQL/MariaDB tables against the table-filter
// syntax of TiDB's tools (DM, Dumpling, Lightning) and routes matched tables
// to new names. It is pure: no I/O, standard library only.
//
// # Patterns
//
// A pattern is "db.table". Each part is either
//
//   - a wildcard: letters, digits, '$', '_' and any non-ASCII character stand
//     for themselves; '*' matches any run of characters (including none), '?'
//     exactly one, "[a-z]" one character in a set and "[!a-z]" one not in it;
//     '\' before any other ASCII punctuation or space makes it literal
//     (shop\.old.* matches database "shop.old"), and '\' before a letter or
//     digit is reserved and rejected;
//   - or a quoted name, "`my.db`" or "\"my.db\"", matched literally: inside
//     quotes '*' and '?' are ordinary characters, and a doubled quote stands
//     for itself. A part is quoted whole or not at all.
//
// "Character" means a Unicode code point. Patterns are not trimmed: a space
// must be escaped or quoted. TiDB's /regexp/ parts, @file imports and
// #comments are not supported.
//
// Matching is case-sensitive, as MySQL's schema and table names are on Linux
// (lower_case_table_names=0): "Shop.*" does not match database "shop".
// Filter.Folded and Router.Folded compare in lower case instead, as a server
// with lower_case_table_names 1 or 2 does.
//
// # Filters
//
// A Filter is an ordered list of patterns. A leading '!' makes a pattern
// exclude. For each table the last pattern that matches decides; a table
// matched by no pattern is excluded, so a deny-list must start with "*.*".
//
// # Routes
//
// A Router renames tables: each Route maps the tables matching From (a
// pattern without '!') to the concrete table To ("db.table", no wildcards).
// The first route that matches wins; tables no route matches keep their
// names.
//
// Every parsed pattern has a canonical spelling, Pattern.String, so that two
// spellings of the same pattern (`shop`.t and shop.t) compare equal.
package tablefilter
