// Package verify compares the tables a task selects between its sources
// and its target while sync keeps running: `dmplan verify`.
//
// Every selected source table is routed to its target table (a merged
// target table is compared with the union of its shards). A table is cut
// into chunks by its key — the primary key, else the first NOT NULL unique
// index that orders the same way on every server — and each chunk is
// checksummed on every side, in parallel connections: the row count and the
// exact sum of a 64-bit hash of every row (CRC32 and CRC32C of the row's
// columns joined with explicit NULL flags and lengths, so the sum is
// independent of row order and a moved separator or a NULL never collides
// with a value). A table without such a key is checksummed whole and
// flagged.
//
// A chunk whose checksums differ may only be in flight: its source side is
// read inside a consistent snapshot whose binlog position P is known, and
// the chunk is checked again once the subtask's sync checkpoint in the
// target's dmplan_meta has passed P, a bounded number of times. A chunk that
// still differs is compared row by row (in Go, keyed by the key's bytes,
// memory bounded by the chunk), and each differing row is checked again the
// same way. Only rows that still differ are reported, with the columns that
// differ. Nothing is ever written to any server; the optional fix SQL is a
// file for a person to review.
package verify
