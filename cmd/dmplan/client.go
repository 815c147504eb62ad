package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

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
	var lastErr error
	for _, ep := range eps {
		sctx, cancel := context.WithTimeout(ctx, a.dialTimeout)
		_, lastErr = cli.Status(sctx, ep)
		cancel()
		if lastErr == nil {
			return cli, nil
		}
	}
	cli.Close()
	return nil, fmt.Errorf("cannot reach etcd at %s (is \"dmplan server\" running? see --endpoints): %w", strings.Join(eps, ","), lastErr)
}
