// Package spec reads the desired state that users keep in git: Source and
// Task documents in YAML (apiVersion dmplan/v1), from files and folders.
//
// Loading is strict: unknown fields, bad names, dangling references and
// malformed table patterns are all reported at once, sorted, each as
// "path/file.yaml:LINE: message". Passwords are written as ${VAR}
// references and resolved from the environment only to compute a digest;
// the value itself never leaves this package.
//
// spec does no I/O beyond reading the files it is given and imports only the
// standard library, sigs.k8s.io/yaml and dmplan's own pure packages.
package spec
