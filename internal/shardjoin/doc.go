// Package shardjoin is the pure decision of optimistic shard DDL
// coordination (docs/shard-ddl.md): the definitions of the shard tables
// that a route merges into one target table, their join (the target's
// schema: every column and index any shard has, each column at the
// widest type a shard gives it), whether a DDL one shard ran is
// compatible with the others, and the ALTER clauses that bring the target
// to the join.
//
// Definitions are read from SHOW CREATE TABLE text of tables on one
// server (the sync unit keeps each shard's definition as a table in the
// target's dmplan_meta), so equal definitions print equally and a column
// is compared by its definition text.
//
// The package is pure: the standard library only.
package shardjoin
