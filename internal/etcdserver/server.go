package etcdserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Defaults for Config fields left zero.
const (
	DefaultClientURL       = "http://127.0.0.1:2379"
	DefaultPeerURL         = "http://127.0.0.1:2380"
	DefaultName            = "dmplan"
	DefaultReadyTimeout    = 60 * time.Second
	DefaultMaxTxnOps       = 10000
	DefaultMaxRequestBytes = 10 << 20 // etcd's recommended maximum
	// DefaultCompaction keeps one hour of history (periodic mode).
	DefaultCompaction = "1h"
)

// ErrNonLoopback is returned when a listen URL is not a loopback address and
// Config.AllowNonLoopback is false.
var ErrNonLoopback = errors.New("listen address is not loopback")

// Config says where the embedded etcd keeps its data and listens.
type Config struct {
	DataDir   string // required; created when missing, reopened when present
	ClientURL string // default DefaultClientURL; port 0 picks a free port
	PeerURL   string // default DefaultPeerURL; port 0 picks a free port
	Name      string // member name, default DefaultName

	// AllowNonLoopback permits listening on addresses other than
	// 127.0.0.0/8, ::1 and localhost. Protect such a server with TLS and
	// auth (not offered here).
	AllowNonLoopback bool

	// MaxTxnOps and MaxRequestBytes default to DefaultMaxTxnOps and
	// DefaultMaxRequestBytes. Tests set etcd's own defaults (128 and
	// 1.5 MiB) to prove the store does not depend on raised limits.
	MaxTxnOps       uint
	MaxRequestBytes uint

	// Compaction is the periodic auto-compaction retention, default
	// DefaultCompaction.
	Compaction string

	ReadyTimeout time.Duration // default DefaultReadyTimeout
	Logger       *slog.Logger  // etcd's warnings and errors go here; nil discards them
}

// Server is a running embedded etcd.
type Server struct {
	etcd      *embed.Etcd
	endpoints []string
	log       *slog.Logger
	closing   *atomic.Bool // quiets etcd's logging during Close

	closeOnce sync.Once
}

// Start starts an embedded etcd and waits until it is ready to serve or
// ctx, or cfg.ReadyTimeout, runs out.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	closing := new(atomic.Bool)
	ecfg, log, err := embedConfig(cfg, closing)
	if err != nil {
		return nil, fmt.Errorf("start etcd in %q: %w", cfg.DataDir, err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("start etcd: create data dir: %w", err)
	}
	e, err := embed.StartEtcd(ecfg)
	if err != nil {
		return nil, fmt.Errorf("start etcd in %q: %w", cfg.DataDir, err)
	}
	s := &Server{etcd: e, log: log, closing: closing}
	timeout := cfg.ReadyTimeout
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		s.Close()
		return nil, fmt.Errorf("start etcd in %q: %w", cfg.DataDir, err)
	case <-timer.C:
		s.Close()
		return nil, fmt.Errorf("start etcd in %q: not ready after %s", cfg.DataDir, timeout)
	case <-ctx.Done():
		s.Close()
		return nil, fmt.Errorf("start etcd in %q: %w", cfg.DataDir, ctx.Err())
	}
	for _, l := range e.Clients {
		s.endpoints = append(s.endpoints, l.Addr().String())
	}
	log.Info("etcd ready", "dataDir", cfg.DataDir, "endpoints", s.endpoints)
	return s, nil
}

func embedConfig(cfg Config, closing *atomic.Bool) (*embed.Config, *slog.Logger, error) {
	if cfg.DataDir == "" {
		return nil, nil, errors.New("data dir is required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	curl, err := listenURL("client", cfg.ClientURL, DefaultClientURL, cfg.AllowNonLoopback)
	if err != nil {
		return nil, nil, err
	}
	purl, err := listenURL("peer", cfg.PeerURL, DefaultPeerURL, cfg.AllowNonLoopback)
	if err != nil {
		return nil, nil, err
	}
	// Port 0 is replaced by a port that is free now: etcd advertises the
	// URLs it is given (in the member list and to its own gRPC gateway),
	// so they must carry the real port.
	if curl, err = withFreePort(curl); err != nil {
		return nil, nil, err
	}
	if purl, err = withFreePort(purl); err != nil {
		return nil, nil, err
	}
	e := embed.NewConfig()
	e.Name = or(cfg.Name, DefaultName)
	e.Dir = cfg.DataDir
	e.ListenClientUrls = []url.URL{*curl}
	e.AdvertiseClientUrls = []url.URL{*curl}
	e.ListenPeerUrls = []url.URL{*purl}
	e.AdvertisePeerUrls = []url.URL{*purl}
	e.InitialCluster = e.InitialClusterFromName(e.Name)
	e.InitialClusterToken = "dmplan"
	e.MaxTxnOps = orUint(cfg.MaxTxnOps, DefaultMaxTxnOps)
	e.MaxRequestBytes = orUint(cfg.MaxRequestBytes, DefaultMaxRequestBytes)
	e.AutoCompactionMode = embed.CompactorModePeriodic
	e.AutoCompactionRetention = or(cfg.Compaction, DefaultCompaction)
	e.ListenMetricsUrls = nil
	e.LogLevel = "warn"
	e.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.New(newSlogCore(log, zap.WarnLevel, closing)))
	return e, log, nil
}

// listenURL parses raw (or def when raw is empty) and refuses non-loopback
// hosts unless allowed.
func listenURL(what, raw, def string, allowAny bool) (*url.URL, error) {
	if raw == "" {
		raw = def
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s URL %q: %w", what, raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%s URL %q: scheme must be http or https", what, raw)
	}
	if u.Port() == "" {
		return nil, fmt.Errorf("%s URL %q: port is required", what, raw)
	}
	if !allowAny && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("%s URL %q: %w (set AllowNonLoopback to permit it)", what, raw, ErrNonLoopback)
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// withFreePort returns u with port 0 replaced by a port that was free a
// moment ago; other ports are kept.
func withFreePort(u *url.URL) (*url.URL, error) {
	if u.Port() != "0" {
		return u, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(u.Hostname(), "0"))
	if err != nil {
		return nil, fmt.Errorf("find a free port on %s: %w", u.Hostname(), err)
	}
	addr := l.Addr().String()
	l.Close()
	out := *u
	out.Host = addr
	return &out, nil
}

// Endpoints returns the client addresses (host:port) the server listens on.
func (s *Server) Endpoints() []string { return append([]string(nil), s.endpoints...) }

// URLs returns the client and peer URLs the server listens on, with real
// ports: pass them to Start to restart it on the same addresses.
func (s *Server) URLs() (client, peer string) {
	c := s.etcd.Config()
	return c.ListenClientUrls[0].String(), c.ListenPeerUrls[0].String()
}

// Client opens a new client to this server. The caller closes it.
func (s *Server) Client() (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   s.Endpoints(),
		DialTimeout: 5 * time.Second,
		Logger:      zap.New(newSlogCore(s.log, zap.WarnLevel, nil)),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to embedded etcd %v: %w", s.endpoints, err)
	}
	return cli, nil
}

// Err reports a fatal error of the running server; it is closed after Close.
func (s *Server) Err() <-chan error { return s.etcd.Err() }

// DataDir is where the server keeps its data.
func (s *Server) DataDir() string { return s.etcd.Config().Dir }

// Close stops the server. It is safe to call more than once. etcd stops
// gracefully: while clients hold streams open (watches, lease keepalives)
// it waits for them up to its request timeout (about 7 s).
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		s.etcd.Close()
		s.log.Info("etcd stopped", "dataDir", s.etcd.Config().Dir)
	})
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orUint(v, def uint) uint {
	if v == 0 {
		return def
	}
	return v
}
