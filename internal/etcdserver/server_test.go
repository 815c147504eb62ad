package etcdserver_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dmplan/dmplan/internal/etcdserver"
	"github.com/dmplan/dmplan/internal/etcdserver/etcdtest"
)

func TestRestartKeepsData(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir() + "/data"

	s := etcdtest.Start(t, etcdserver.Config{DataDir: dir})
	if len(s.Endpoints()) != 1 || !strings.HasPrefix(s.Endpoints()[0], "127.0.0.1:") {
		t.Fatalf("Endpoints() = %v, want one 127.0.0.1 address", s.Endpoints())
	}
	if _, err := s.Client.Put(ctx, "/dmplan/test/k", "v1"); err != nil {
		t.Fatal(err)
	}
	s.Client.Close()
	s.Close()
	s.Close() // idempotent: embed's own Close panics the second time

	s2 := etcdtest.Start(t, etcdserver.Config{DataDir: dir})
	resp, err := s2.Client.Get(ctx, "/dmplan/test/k")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v1" {
		t.Fatalf("after restart got %v, want v1", resp.Kvs)
	}
}

func TestLimitsAreRaised(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := etcdtest.Start(t, etcdserver.Config{})
	cli := s.Client
	// 1.8 MiB: over etcd's default 1.5 MiB request limit, under the
	// client's default 2 MiB send cap.
	big := strings.Repeat("x", 1800<<10)
	if _, err := cli.Put(ctx, "/dmplan/test/big", big); err != nil {
		t.Fatalf("put 1.8 MiB with raised MaxRequestBytes: %v", err)
	}

	d := etcdtest.Start(t, etcdserver.Config{
		MaxTxnOps: etcdtest.DefaultMaxTxnOps, MaxRequestBytes: etcdtest.DefaultMaxRequestBytes,
	})
	if _, err := d.Client.Put(ctx, "/dmplan/test/big", big); err == nil {
		t.Fatal("put 1.8 MiB with etcd's default limits succeeded, want 'request is too large'")
	}
}

func TestRefusesNonLoopback(t *testing.T) {
	for _, u := range []string{"http://0.0.0.0:2379", "http://192.0.2.1:2379", "http://example.com:2379"} {
		_, err := etcdserver.Start(context.Background(), etcdserver.Config{
			DataDir: t.TempDir(), ClientURL: u, Logger: slog.New(slog.DiscardHandler),
		})
		if !errors.Is(err, etcdserver.ErrNonLoopback) {
			t.Errorf("Start(ClientURL=%s) error = %v, want ErrNonLoopback", u, err)
		}
		_, err = etcdserver.Start(context.Background(), etcdserver.Config{
			DataDir: t.TempDir(), ClientURL: "http://127.0.0.1:0", PeerURL: u,
		})
		if !errors.Is(err, etcdserver.ErrNonLoopback) {
			t.Errorf("Start(PeerURL=%s) error = %v, want ErrNonLoopback", u, err)
		}
	}
	if _, err := etcdserver.Start(context.Background(), etcdserver.Config{}); err == nil {
		t.Error("Start without DataDir succeeded")
	}
}
