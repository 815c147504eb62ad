// Package etcdtest starts embedded etcd servers for tests: free loopback
// ports, a temporary data dir, quiet logs.
package etcdtest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/etcdserver"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultLimits are etcd's own request limits, for tests that must prove
// they do not rely on the raised limits of etcdserver.
const (
	DefaultMaxTxnOps       = 128
	DefaultMaxRequestBytes = 3 << 19 // 1.5 MiB
)

// Server is a test etcd and a client connected to it.
type Server struct {
	*etcdserver.Server
	Client *clientv3.Client
	dir    string
}

// StartMain starts a server for a TestMain. cfg.DataDir, the URLs and the
// logger are filled in when empty. Stop closes the client and the server
// and removes the data dir.
func StartMain(cfg etcdserver.Config) (*Server, error) {
	dir := cfg.DataDir
	if dir == "" {
		d, err := os.MkdirTemp("", "dmplan-etcd-")
		if err != nil {
			return nil, fmt.Errorf("etcdtest: %w", err)
		}
		dir = d
		cfg.DataDir = d + "/data"
	}
	if cfg.ClientURL == "" {
		cfg.ClientURL = "http://127.0.0.1:0"
	}
	if cfg.PeerURL == "" {
		cfg.PeerURL = "http://127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var (
		srv *etcdserver.Server
		err error
	)
	// A free port can be taken between picking and binding it: retry.
	for range 3 {
		if srv, err = etcdserver.Start(ctx, cfg); err == nil {
			break
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("etcdtest: %w", err)
	}
	cli, err := srv.Client()
	if err != nil {
		srv.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("etcdtest: %w", err)
	}
	return &Server{Server: srv, Client: cli, dir: dir}, nil
}

// Stop closes the client and the server and removes a data dir that
// StartMain created.
func (s *Server) Stop() {
	s.Client.Close()
	s.Server.Close()
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// Start starts a server for one test and stops it at the test's cleanup.
func Start(tb testing.TB, cfg etcdserver.Config) *Server {
	tb.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = tb.TempDir() + "/data"
	}
	s, err := StartMain(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}
