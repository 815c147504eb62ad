// Package onlineddl recognises the tables of online schema change tools
// (gh-ost, pt-online-schema-change) by name, as DM's shadow and trash
// rules do: such a tool creates a shadow table (`_T_gho`, `_T_new`),
// ALTERs it, copies T's rows into it while triggers or the binlog keep it
// current, and swaps it in with one RENAME, leaving the old table under a
// trash name (`_T_del`, `_T_old`; gh-ost's changelog `_T_ghc` is trash
// too). Each rule is an RE2 expression whose first group captures T.
//
// The sync unit skips every row change of shadow and trash tables,
// remembers the ALTERs run on a shadow table, and at the swap runs them on
// T's target table instead of the RENAME (docs/units.md, "Online schema
// changes"). The package is pure: the standard library only.
package onlineddl
