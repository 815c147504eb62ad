package etcdserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
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
	// DefaultCompaction keeps ten minutes of history (periodic mode): what
	// dmplan writes stays in etcd's history that long (docs/keyspace.md,
	// "What is kept, and for how long").
	DefaultCompaction = "10m"
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
	// 127.0.0.0/8, ::1 and localhost. Start refuses it unless the client
	// side has TLS with client certificates (ClientTLS.ClientCertAuth).
	AllowNonLoopback bool

	// InitialCluster lists every member of a new cluster as etcd's
	// --initial-cluster does ("m1=http://127.0.0.1:2380,m2=..."); empty
	// means a single-member cluster of this server alone. It names this
	// server too (Name), and its peer URL must be PeerURL.
	InitialCluster string
	// InitialClusterState is "new" (default) or "existing": a member added
	// to a running cluster (after `dmplan member add`) starts "existing".
	InitialClusterState string
	// InitialClusterToken keeps two clusters from joining by mistake;
	// default "dmplan".
	InitialClusterToken string

	// ClientTLS secures the client URL (https): the server's certificate,
	// and with ClientCertAuth a CA that client certificates must chain to.
	// PeerTLS secures the member-to-member URL likewise.
	ClientTLS TLS
	PeerTLS   TLS

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

// TLS names the files of one side's TLS, as etcd's --cert-file,
// --key-file, --trusted-ca-file and --client-cert-auth do.
type TLS struct {
	CertFile, KeyFile string
	TrustedCAFile     string
	ClientCertAuth    bool // require a certificate signed by TrustedCAFile
}

// Enabled reports whether any TLS file is set.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" || t.TrustedCAFile != "" }

func (t TLS) check(what string) error {
	if !t.Enabled() {
		if t.ClientCertAuth {
			return fmt.Errorf("%s TLS: client certificate auth needs a certificate, key and trusted CA", what)
		}
		return nil
	}
	if t.CertFile == "" || t.KeyFile == "" {
		return fmt.Errorf("%s TLS: both a certificate and a key file are required", what)
	}
	if t.ClientCertAuth && t.TrustedCAFile == "" {
		return fmt.Errorf("%s TLS: client certificate auth needs a trusted CA file", what)
	}
	for _, f := range []string{t.CertFile, t.KeyFile, t.TrustedCAFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("%s TLS: %w", what, err)
		}
	}
	return nil
}

func (t TLS) info() transport.TLSInfo {
	return transport.TLSInfo{CertFile: t.CertFile, KeyFile: t.KeyFile, TrustedCAFile: t.TrustedCAFile, ClientCertAuth: t.ClientCertAuth}
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
	if err := cfg.ClientTLS.check("client"); err != nil {
		return nil, nil, err
	}
	if err := cfg.PeerTLS.check("peer"); err != nil {
		return nil, nil, err
	}
	if cfg.AllowNonLoopback && !cfg.ClientTLS.ClientCertAuth {
		return nil, nil, errors.New("listening beyond loopback needs client TLS with client certificate auth")
	}
	curl, err := listenURL("client", cfg.ClientURL, DefaultClientURL, cfg.AllowNonLoopback, cfg.ClientTLS.Enabled())
	if err != nil {
		return nil, nil, err
	}
	purl, err := listenURL("peer", cfg.PeerURL, DefaultPeerURL, cfg.AllowNonLoopback, cfg.PeerTLS.Enabled())
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
	if cfg.InitialCluster != "" {
		if err := checkInitialCluster(cfg.InitialCluster, e.Name, purl, cfg.AllowNonLoopback); err != nil {
			return nil, nil, err
		}
		e.InitialCluster = cfg.InitialCluster
	}
	switch cfg.InitialClusterState {
	case "", embed.ClusterStateFlagNew:
		e.ClusterState = embed.ClusterStateFlagNew
	case embed.ClusterStateFlagExisting:
		e.ClusterState = embed.ClusterStateFlagExisting
	default:
		return nil, nil, fmt.Errorf("initial cluster state %q: want new or existing", cfg.InitialClusterState)
	}
	e.InitialClusterToken = or(cfg.InitialClusterToken, "dmplan")
	e.ClientTLSInfo = cfg.ClientTLS.info()
	e.PeerTLSInfo = cfg.PeerTLS.info()
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
// hosts unless allowed. With TLS the scheme is https.
func listenURL(what, raw, def string, allowAny, secure bool) (*url.URL, error) {
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
	if secure && u.Scheme == "http" {
		u.Scheme = "https"
	}
	if !secure && u.Scheme == "https" {
		return nil, fmt.Errorf("%s URL %q: https needs a certificate and key", what, raw)
	}
	if u.Port() == "" {
		return nil, fmt.Errorf("%s URL %q: port is required", what, raw)
	}
	if !allowAny && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("%s URL %q: %w (set AllowNonLoopback to permit it)", what, raw, ErrNonLoopback)
	}
	return u, nil
}

// checkInitialCluster checks a --initial-cluster value: name=URL pairs,
// unique names, loopback hosts unless allowed, and this member's own entry
// equal to its peer URL (etcd would refuse to start with a vaguer error).
func checkInitialCluster(ic, name string, peer *url.URL, allowAny bool) error {
	seen := map[string]bool{}
	self := false
	for _, part := range strings.Split(ic, ",") {
		n, raw, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || n == "" || raw == "" {
			return fmt.Errorf("initial cluster %q: %q is not name=URL", ic, part)
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Port() == "" {
			return fmt.Errorf("initial cluster %q: member %s: %q is not an http(s)://host:port URL", ic, n, raw)
		}
		if !allowAny && !isLoopback(u.Hostname()) {
			return fmt.Errorf("initial cluster: member %s at %q: %w", n, raw, ErrNonLoopback)
		}
		if n == name {
			if u.Host != peer.Host || u.Scheme != peer.Scheme {
				return fmt.Errorf("initial cluster: this member %s is listed at %s but its peer URL is %s", n, raw, peer)
			}
			self = true
		}
		seen[n] = true
	}
	if !self {
		return fmt.Errorf("initial cluster %q does not list this member %q (--name)", ic, name)
	}
	return nil
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
	cfg := clientv3.Config{
		Endpoints:   s.Endpoints(),
		DialTimeout: 5 * time.Second,
		Logger:      zap.New(newSlogCore(s.log, zap.WarnLevel, nil)),
	}
	if t := s.etcd.Config().ClientTLSInfo; !t.Empty() {
		// The server's own certificate doubles as a client certificate.
		tc, err := t.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("connect to embedded etcd %v: TLS: %w", s.endpoints, err)
		}
		cfg.TLS = tc
	}
	cli, err := clientv3.New(cfg)
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

// Name is this member's name.
func (s *Server) Name() string { return s.etcd.Config().Name }
