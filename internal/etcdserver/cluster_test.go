package etcdserver_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/dmplan/dmplan/internal/etcdserver"
	"github.com/dmplan/dmplan/internal/mariadbtest"
	"github.com/dmplan/dmplan/internal/testcerts"
)

type member struct {
	name, client, peer string
	dir                string
	srv                *etcdserver.Server
}

func freeURL(t *testing.T, scheme string) string {
	t.Helper()
	p, err := mariadbtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s://127.0.0.1:%d", scheme, p)
}

// startMembers starts the members at once: each waits for a quorum.
func startMembers(t *testing.T, ctx context.Context, ms []*member, ic, state string, peerTLS etcdserver.TLS) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(ms))
	for i, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.srv, errs[i] = etcdserver.Start(ctx, etcdserver.Config{
				Name: m.name, DataDir: m.dir, ClientURL: m.client, PeerURL: m.peer,
				InitialCluster: ic, InitialClusterState: state, PeerTLS: peerTLS,
				ReadyTimeout: 30 * time.Second,
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start %s: %v", ms[i].name, err)
		}
		t.Cleanup(ms[i].srv.Close)
	}
}

func clusterClient(t *testing.T, ms ...*member) *clientv3.Client {
	t.Helper()
	var eps []string
	for _, m := range ms {
		eps = append(eps, strings.TrimPrefix(m.client, "http://"))
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// TestThreeMembers forms a cluster of three, loses its leader, keeps
// serving, and replaces a member with --initial-cluster-state existing.
func TestThreeMembers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	peerCA, err := testcerts.NewCA(t.TempDir(), "peer-ca")
	if err != nil {
		t.Fatal(err)
	}
	peerPair, err := peerCA.Issue("member")
	if err != nil {
		t.Fatal(err)
	}
	peerTLS := etcdserver.TLS{CertFile: peerPair.CertFile, KeyFile: peerPair.KeyFile, TrustedCAFile: peerCA.CAFile, ClientCertAuth: true}

	var ms []*member
	var ic []string
	for i := 1; i <= 3; i++ {
		m := &member{name: fmt.Sprintf("m%d", i), client: freeURL(t, "http"), peer: freeURL(t, "https"), dir: t.TempDir()}
		ms = append(ms, m)
		ic = append(ic, m.name+"="+m.peer)
	}
	startMembers(t, ctx, ms, strings.Join(ic, ","), "new", peerTLS)
	cli := clusterClient(t, ms...)
	if _, err := cli.Put(ctx, "/dmplan/test/a", "1"); err != nil {
		t.Fatal(err)
	}

	// Lose the leader: the other two elect a new one and keep serving.
	st, err := cli.Status(ctx, strings.TrimPrefix(ms[0].client, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	var leader *member
	var rest []*member
	for _, m := range ms {
		mst, err := cli.Status(ctx, strings.TrimPrefix(m.client, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		if mst.Header.MemberId == st.Leader {
			leader = m
		} else {
			rest = append(rest, m)
		}
	}
	if leader == nil {
		t.Fatal("no member is the leader")
	}
	leader.srv.Close()
	cli2 := clusterClient(t, rest...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := cli2.Put(pctx, "/dmplan/test/b", "2")
		pcancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("two of three members do not accept writes: %v", err)
		}
	}

	// Replace the dead leader by a new member that joins the running cluster.
	ml, err := cli2.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ml.Members {
		if m.Name == leader.name {
			if _, err := cli2.MemberRemove(ctx, m.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	m4 := &member{name: "m4", client: freeURL(t, "http"), peer: freeURL(t, "https"), dir: t.TempDir()}
	// A leader elected a moment ago refuses reconfiguration ("unhealthy
	// cluster") until it has heard from the others for a while.
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, err := cli2.MemberAdd(ctx, []string{m4.peer})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("member add: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	ic = []string{rest[0].name + "=" + rest[0].peer, rest[1].name + "=" + rest[1].peer, m4.name + "=" + m4.peer}
	startMembers(t, ctx, []*member{m4}, strings.Join(ic, ","), "existing", peerTLS)
	cli4 := clusterClient(t, m4)
	resp, err := cli4.Get(ctx, "/dmplan/test/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 2 {
		t.Fatalf("the new member holds %d keys, want 2 (a and b)", len(resp.Kvs))
	}
	// The old leader's data dir must not rejoin as a member that was removed.
	ml, err = cli4.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ml.Members) != 3 {
		t.Fatalf("members after replacement: %d, want 3", len(ml.Members))
	}
}

func TestInitialClusterErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ ic, want string }{
		{"m1", "is not name=URL"},
		{"m1=ftp://127.0.0.1:1", "is not an http(s)://host:port URL"},
		{"m2=http://127.0.0.1:2380", "does not list this member"},
		{"m1=http://10.0.0.1:2380", "not loopback"},
		{"m1=http://127.0.0.1:1", "is listed at"},
	} {
		_, err := etcdserver.Start(ctx, etcdserver.Config{Name: "m1", DataDir: t.TempDir(), PeerURL: "http://127.0.0.1:2380", InitialCluster: tc.ic})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("initial cluster %q: err = %v, want %q", tc.ic, err, tc.want)
		}
	}
	if _, err := etcdserver.Start(ctx, etcdserver.Config{DataDir: t.TempDir(), InitialClusterState: "old"}); err == nil || !strings.Contains(err.Error(), "new or existing") {
		t.Errorf("state old: err = %v", err)
	}
}

// TestClientTLS serves clients over TLS with client certificate auth: a
// client with a certificate from the CA gets in, one without or with
// another CA's certificate does not.
func TestClientTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	ca, err := testcerts.NewCA(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	srvPair, err := ca.Issue("server")
	if err != nil {
		t.Fatal(err)
	}
	good, err := ca.Issue("agent")
	if err != nil {
		t.Fatal(err)
	}
	other, err := testcerts.NewCA(t.TempDir(), "other")
	if err != nil {
		t.Fatal(err)
	}
	bad, err := other.Issue("intruder")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := etcdserver.Start(ctx, etcdserver.Config{
		DataDir: t.TempDir(), ClientURL: "http://127.0.0.1:0", PeerURL: "http://127.0.0.1:0",
		ClientTLS: etcdserver.TLS{CertFile: srvPair.CertFile, KeyFile: srvPair.KeyFile, TrustedCAFile: ca.CAFile, ClientCertAuth: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if c, _ := srv.URLs(); !strings.HasPrefix(c, "https://") {
		t.Fatalf("client URL %s, want https", c)
	}
	try := func(info transport.TLSInfo) error {
		var tc *tls.Config
		if !info.Empty() {
			if tc, err = info.ClientConfig(); err != nil {
				t.Fatal(err)
			}
		}
		cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 2 * time.Second, TLS: tc, Logger: zap.NewNop()})
		if err != nil {
			return err
		}
		defer cli.Close()
		pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
		defer pcancel()
		_, err = cli.Put(pctx, "/dmplan/test/tls", "x")
		return err
	}
	if err := try(transport.TLSInfo{CertFile: good.CertFile, KeyFile: good.KeyFile, TrustedCAFile: ca.CAFile}); err != nil {
		t.Fatalf("client with the CA's certificate: %v", err)
	}
	if err := try(transport.TLSInfo{TrustedCAFile: ca.CAFile}); err == nil {
		t.Fatal("client without a certificate got in")
	}
	if err := try(transport.TLSInfo{CertFile: bad.CertFile, KeyFile: bad.KeyFile, TrustedCAFile: ca.CAFile}); err == nil {
		t.Fatal("client with another CA's certificate got in")
	}
	if err := try(transport.TLSInfo{}); err == nil {
		t.Fatal("plain-text client got in")
	}
	cli, err := srv.Client() // the server's own certificate as a client
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Get(ctx, "/dmplan/test/tls"); err != nil {
		t.Fatalf("Server.Client over TLS: %v", err)
	}
}
