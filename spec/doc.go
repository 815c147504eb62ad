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
// unquoted yes, no, on, off, true or false is a boolean and a bare 3306 an
// integer. YAML anchors, aliases and merge keys (<<) are expanded, but a key given
// both through a merge and directly is reported as given twice.
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
// Every problem is reported at once, as an ErrorList sorted by file and line
// whose entries read "path/file.yaml:LINE: message"; past ten, the rest are
// counted "(and N more errors)". Messages name the field by its path
// (spec.target.port). Lines come from yaml.v2, which gives no columns.
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
// naming it; a set one becomes Secret{Ref: VAR, Digest: Digest(VAR, value)}.
// The value itself goes nowhere: not into the Set, not into a message. ${...}
// in any other field is an error rather than being left unexpanded.
//
// spec does no I/O beyond reading the files it is given, and imports only
// the standard library, go.yaml.in/yaml/v2 (the parser behind
// sigs.k8s.io/yaml, see yamlnode.go) and internal/tablefilter.
package spec
