package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/dmplan/dmplan/internal/store"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// sharedEtcd returns the command's shared etcd client, connecting on the
// first call; run closes it when the command ends. Callers do not close it.
func (a *app) sharedEtcd(ctx context.Context) (*clientv3.Client, error) {
	if a.shared != nil {
		return a.shared, nil
	}
	cli, err := a.etcdClient(ctx)
	if err != nil {
		return nil, err
	}
	a.shared = cli
	return cli, nil
}

// closeShared closes the shared etcd client, if one was made.
func (a *app) closeShared() {
	if a.shared != nil {
		a.shared.Close()
		a.shared = nil
	}
}

// etcdClient connects to the etcd endpoints given by the global flags.
func (a *app) etcdClient(ctx context.Context) (*clientv3.Client, error) {
	var eps []string
	for _, e := range strings.Split(a.endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	if len(eps) == 0 {
		return nil, fmt.Errorf("--endpoints: no etcd endpoint given")
	}
	cfg := clientv3.Config{
		Endpoints:   eps,
		DialTimeout: a.dialTimeout,
		Context:     ctx,
		Logger:      zap.NewNop(),
		// Reconnect quickly after etcd restarts: gRPC's default backoff
		// grows to minutes, longer than an agent's lease.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: a.dialTimeout,
		})},
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
	}
	if a.tls.caFile != "" || a.tls.certFile != "" || a.tls.keyFile != "" || a.tls.insecureSkipVerify {
		info := transport.TLSInfo{CertFile: a.tls.certFile, KeyFile: a.tls.keyFile, TrustedCAFile: a.tls.caFile, InsecureSkipVerify: a.tls.insecureSkipVerify}
		var tc *tls.Config
		var err error
		if tc, err = info.ClientConfig(); err != nil {
			return nil, fmt.Errorf("etcd TLS: %w", err)
		}
		cfg.TLS = tc
	}
	if a.etcdUser != "" {
		cfg.Username = a.etcdUser
		cfg.Password, _ = a.lookupEnv("DMPLAN_ETCD_PASSWORD")
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to etcd at %s: %w", strings.Join(eps, ","), err)
	}
	// The client dials lazily and retries forever: ask once, so that an
	// unreachable etcd is an error now, not a hang.
	sctx, cancel := context.WithTimeout(ctx, a.dialTimeout)
	lastErr := store.Ping(sctx, cli)
	cancel()
	if lastErr == nil {
		return cli, nil
	}
	cli.Close()
	if why := diagnoseTLS(eps[0], cfg.TLS, a.dialTimeout); why != "" {
		return nil, fmt.Errorf("cannot reach etcd at %s: %s", strings.Join(eps, ","), why)
	}
	return nil, fmt.Errorf("cannot reach etcd at %s (is \"dmplan server\" running? see --endpoints): %w", strings.Join(eps, ","), lastErr)
}

// diagnoseTLS says why a TLS set-up fails against ep, which gRPC only
// reports as a deadline: a handshake error, or a server that speaks TLS to
// a client that does not. It returns "" when TLS is not the problem.
func diagnoseTLS(ep string, tc *tls.Config, timeout time.Duration) string {
	host := ep
	if i := strings.Index(host, "://"); i >= 0 {
		host = host[i+3:]
	}
	d := &net.Dialer{Timeout: timeout}
	if tc == nil {
		probe, err := tls.DialWithDialer(d, "tcp", host, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			return ""
		}
		probe.Close()
		return "it serves TLS: pass --cacert (and --cert/--key when it requires client certificates)"
	}
	c := tc.Clone()
	if h, _, err := net.SplitHostPort(host); err == nil && c.ServerName == "" {
		c.ServerName = h
	}
	conn, err := tls.DialWithDialer(d, "tcp", host, c)
	if err != nil {
		var rec tls.RecordHeaderError
		if errors.As(err, &rec) {
			return "it does not speak TLS: drop --cacert/--cert/--key, or check the port"
		}
		if _, ok := err.(net.Error); ok && !strings.Contains(err.Error(), "tls") && !strings.Contains(err.Error(), "x509") {
			return ""
		}
		return "TLS: " + err.Error()
	}
	defer conn.Close()
	// TLS 1.3 reports a refused client certificate only on the first read.
	conn.SetReadDeadline(time.Now().Add(timeout))
	if _, err := conn.Read(make([]byte, 1)); err != nil && (strings.Contains(err.Error(), "certificate") || strings.Contains(err.Error(), "tls")) {
		return "TLS: " + err.Error() + " (etcd requires a client certificate signed by its CA: --cert/--key)"
	}
	return ""
}
