package units

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/dmplan/dmplan/internal/mariadbtest"
	"github.com/dmplan/dmplan/internal/testcerts"
)

// socketDB opens root over the server's unix socket: the one way in that
// require_secure_transport leaves without TLS, for the test's own reads.
func socketDB(t testing.TB, s *mariadbtest.Server) *sql.DB {
	t.Helper()
	c := mysql.NewConfig()
	c.User, c.Net, c.Addr = "root", "unix", s.Socket
	if err := c.Apply(mysql.Charset("utf8mb4", "")); err != nil {
		t.Fatal(err)
	}
	c.MultiStatements = true
	conn, err := mysql.NewConnector(c)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestTLSEverywhere runs mode all (dump, load, then sync under writes)
// against a source and a target that refuse any TCP connection without TLS
// (require_secure_transport=ON): every connection dmplan makes, the binlog
// stream included, goes over TLS. A CA that did not sign the server's
// certificate is a permanent error that names the endpoint.
func TestTLSEverywhere(t *testing.T) {
	t.Parallel() // its own servers (see parallel_test.go)
	ca, err := testcerts.NewCA(t.TempDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	srvPair, err := ca.Issue("mariadb")
	if err != nil {
		t.Fatal(err)
	}
	cliPair, err := ca.Issue("dmplan")
	if err != nil {
		t.Fatal(err)
	}
	extra := []string{"ssl-ca=" + ca.CAFile, "ssl-cert=" + srvPair.CertFile, "ssl-key=" + srvPair.KeyFile}
	p := &syPair{src: syServer(t, mariadbtest.Options{Extra: extra}), dst: syServer(t, mariadbtest.Options{NoBinlog: true, Extra: extra})}
	p.srcDB, p.dstDB = socketDB(t, p.src), socketDB(t, p.dst)
	// On only now: the test helper waits for the server over plain TCP.
	syExec(t, p.srcDB, "SET GLOBAL require_secure_transport = ON")
	syExec(t, p.dstDB, "SET GLOBAL require_secure_transport = ON")
	p.srcDB.SetMaxIdleConns(8)
	// A client certificate for the source: its user requires one.
	syExec(t, p.srcDB, "CREATE USER dm@'127.0.0.1' REQUIRE X509",
		"GRANT SELECT, RELOAD, LOCK TABLES, SHOW VIEW, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO dm@'127.0.0.1'")

	plain := syEndpoint(p.src)
	if db, err := Open(plain, 1); err == nil {
		err = db.Ping()
		db.Close()
		if err == nil {
			t.Fatal("a plain-text connection was accepted: the test would prove nothing")
		}
		t.Logf("plain text refused as it should be: %v", err)
	}

	syExec(t, p.srcDB, "CREATE DATABASE c")
	syExec(t, p.srcDB, syAuditTables...)
	syExec(t, p.srcDB, "INSERT INTO c.acct SELECT seq, seq, 0, REPEAT('x', 40) FROM c.seq_1_to_5000",
		"INSERT INTO c.uk VALUES (1, 1, 0), (2, 2, 0), (3, 3, 0)")
	cfg := p.config("tls", ModeAll, []string{"c.*"})
	cfg.From.User = "dm"
	cfg.From.TLS = TLS{Mode: TLSVerifyIdentity, CA: ca.CAFile, Cert: cliPair.CertFile, Key: cliPair.KeyFile}
	cfg.To.TLS = TLS{Mode: TLSVerifyCA, CA: ca.CAFile}
	w := syStartWriter(t, p.srcDB, 5)
	r := syStart(t, cfg, syLog(t))
	time.Sleep(500 * time.Millisecond)
	w.stop()
	syWaitCaughtUp(t, p, r, 60*time.Second)
	syWaitSame(t, p, 30*time.Second, "c.acct=c.acct", "c.nokey=c.nokey", "c.uk=c.uk")
	if n := r.errs.Load(); n != 0 {
		t.Errorf("%d progress reports carried an error", n)
	}
	r.stop(t)

	// Mode required (encrypted, unverified) and preferred work too.
	for _, mode := range []string{TLSRequired, TLSPreferred} {
		ep := syEndpoint(p.dst)
		ep.TLS = TLS{Mode: mode}
		db, err := Open(ep, 1)
		if err != nil {
			t.Fatal(err)
		}
		on, err := sessionTLS(context.Background(), db)
		db.Close()
		if err != nil || !on {
			t.Errorf("mode %s: TLS on = %v, err %v", mode, on, err)
		}
	}

	// A CA that did not sign the server: a permanent error naming the endpoint.
	other, err := testcerts.NewCA(t.TempDir(), "other")
	if err != nil {
		t.Fatal(err)
	}
	bad := cfg
	bad.Task = "tls-bad"
	bad.To.TLS = TLS{Mode: TLSVerifyCA, CA: other.CAFile}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = Run(ctx, bad, ReporterFunc(func(Progress) {}), syLog(t))
	if err == nil {
		t.Fatal("Run with the wrong CA succeeded")
	}
	if isTransient(err) || !errors.Is(err, ErrPermanent) {
		t.Errorf("wrong CA: error is not permanent: %v", err)
	}
	if !strings.Contains(err.Error(), bad.To.String()) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("wrong CA: error does not name the endpoint and the certificate: %v", err)
	}
	t.Logf("wrong CA: %v", err)
}
