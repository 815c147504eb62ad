// Package spec reads the desired state that users keep in git: Source and
// Task documents in YAML (apiVersion dmplan/v1), from files and folders.
//
// # Files
//
// Load takes files and folders. A folder is read recursively for *.yaml and
// *.yml files, in sorted order, skipping folders whose names start with "."
// (.git, .github); a file named explicitly is read whatever its extension;
// a file reached twice is read once. A folder without YAML files is an error
// (an empty desired state would delete everything); an empty file, or one
// with only comments, declares nothing and is fine. Each file may hold many
// documents separated by "---"; empty documents are skipped.
//
// # Documents
//
// Every document has the envelope apiVersion (dmplan/v1), kind (Source or
// Task), metadata.name and spec; the fields are those of DESIGN.md, in
// camelCase. Loading is strict: an unknown field, a field given twice or a
// value of the wrong type is an error. Strings must be YAML strings: an
// unquoted yes, no, on, off, y, n, true or false is a boolean (YAML 1.1's
// booleans, which other tools still read so) and a bare 3306 an integer;
// timestamps and scalars with a tag of their own (!foo) are strings. YAML
// anchors, aliases and merge keys (<<: *base or <<: [*a, *b]) are expanded,
// but a key given both through a merge and directly, or through two
// merges, is reported as given twice; an alias inside its own anchor's
// value is an error.
//
// metadata.annotations is an optional mapping of string keys to string
// values (Kubernetes' key syntax, CheckAnnotationKey), kept with the object
// and shown in plans when it changes. The "dmplan/" prefix is reserved; its
// only key, dmplan/protect ("true" or "false", quoted), protects the object
// from deletion, replacement and restarts from a fresh dump
// (planner.CheckProtected, docs/plan-format.md "Protection").
//
// Names (metadata.name, spec.sources) are DNS labels: 1 to 63 of a-z, 0-9
// and "-", starting and ending with a letter or digit (CheckName). A
// Source's worker is an agent name (CheckWorkerName). Sources and Tasks have
// separate name spaces.
//
// # Defaults and normalisation
//
// Absent fields take these values: port 3306 (a Source's and a target's),
// spec.stage running, spec.dump.threads 4, spec.sync.workers 8,
// spec.sync.batch 100, flavor "" (detected by the units), binlogPos 4 when
// binlogFile is given. spec.mode has no default: it decides whether a task
// dumps, syncs or both, so a forgotten mode should be an error rather than
// a surprise. A field given explicitly is checked, so "threads: 0" is an
// error, not the default.
//
// A loaded Set is normalised so that two YAML files that mean the same thing
// load to equal Sets (Origin aside): Sources and Tasks sorted by name,
// spec.sources sorted (a name listed twice is an error), table patterns and
// routes in their canonical spelling (internal/tablefilter: `shop`.t is
// shop.t) but in their given order, which matters, whitespace removed from
// GTID sets, start entries without a position dropped, and empty routes
// and start left nil.
//
// # Errors
//
// Every problem is reported at once, as an ErrorList sorted by file, line
// and column whose entries read "path/file.yaml:LINE:COL: message"; past
// ten, the rest are counted "(and N more errors)". Messages name the field
// by its path (spec.target.port). Each document is parsed once by
// go.yaml.in/yaml/v3 into a node tree that keeps the line and column of
// every key and value: a problem with a value (wrong type, bad value)
// points at the value, one with a field (unknown, given twice, not allowed)
// at its key, and a missing field at the key of the mapping that lacks it.
// Columns count characters. YAML syntax errors have the line yaml.v3 gives
// (for an unclosed bracket or quote, where it opens) and a column found on
// that line, as yaml.v3 gives none: the quote or bracket left open there,
// the "{" or "[" of a flow collection it complains about, else the line's
// first character that is not a space; bytes YAML does not allow and
// unknown aliases are found where they are.
// Things checked: YAML syntax, envelope, names, unknown and duplicate
// fields, types, modes, stages, flavors, ports, required hosts and users,
// table patterns (a list of excludes only is an error: it matches nothing),
// routes, start positions (only for mode incremental, only for the task's
// sources, gtid or binlogFile but not both), tuning ranges (threads 1..64,
// workers 1..256, batch 1..10000), unique names per kind, and that every
// source a task names is declared.
//
// # Secrets
//
// A password field is absent, empty, or exactly a ${VAR} reference; a
// literal password is an error, because dmplan never stores passwords. VAR
// is read through the getenv given to Load: an unset variable is an error
// naming it; a set one becomes Secret{Ref: VAR, Digest: h.Digest(VAR, value)} with the
// installation's Hasher given to LoadWith (docs/keyspace.md says why and how).
// The value itself goes nowhere: not into the Set, not into a message. ${...}
// in any other field is an error rather than being left unexpanded.
//
// # Speed
//
// Parsing YAML is most of the cost of a Load. Files are parsed in
// parallel, one goroutine per core, and a large file (128 KiB or more) is
// cut before "---" lines into pieces of about 64 KiB that are parsed in
// parallel too (pieces.go says which files are never cut and why). The
// results are put together in file and document order, so the Set and the
// errors do not depend on the number of cores.
//
// # Writing YAML (export)
//
// Marshal writes the kinds with yaml.v3 from document shapes of its own
// (marshal.go), not through the kinds' JSON tags with sigs.k8s.io/yaml,
// the Kubernetes convention: the JSON tags are the shape kept in etcd and
// in plan files, where a password is a reference and a digest, while a
// file holds ${VAR}; and sigs.k8s.io/yaml goes through a map, so every
// mapping comes out in alphabetical order instead of the documented one
// (host, port, user, password; mode, stage, target, ...). Plan files are
// JSON. So dmplan imports sigs.k8s.io/yaml nowhere; go.mod lists it as an
// indirect dependency only because etcd's embedded server needs it.
//
// spec does no I/O beyond reading the files it is given, and imports only
// the standard library, go.yaml.in/yaml/v3, golang.org/x/crypto/argon2 and
// internal/tablefilter.
package spec
