// Package etcdserver runs the embedded single-node etcd that `dmplan server`
// offers as the default control plane for one machine.
//
// The server listens on loopback only (unless AllowNonLoopback is set), keeps
// its data across restarts, compacts its history periodically, and routes
// etcd's own zap logging into the caller's slog.Logger at warning level and
// above. Close is safe to call more than once.
//
// The raised request limits (MaxTxnOps, MaxRequestBytes) are a convenience for
// etcdctl users; the store never relies on them, so the same code works
// against an external cluster with etcd's defaults.
package etcdserver
