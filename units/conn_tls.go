package units

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"

	"github.com/go-sql-driver/mysql"

	"github.com/dmplan/dmplan/units/job"
)

// TLS modes of an Endpoint (job's).
const (
	TLSDisabled       = job.TLSDisabled
	TLSPreferred      = job.TLSPreferred
	TLSRequired       = job.TLSRequired
	TLSVerifyCA       = job.TLSVerifyCA
	TLSVerifyIdentity = job.TLSVerifyIdentity
)

// tlsConfig builds the crypto/tls configuration of ep: nil for plain text.
// fallback reports whether plain text is acceptable when the server offers
// no TLS (mode preferred).
func tlsConfig(ep Endpoint) (cfg *tls.Config, fallback bool, err error) {
	t := ep.TLS
	switch t.Mode {
	case "", TLSDisabled:
		return nil, false, nil
	case TLSPreferred, TLSRequired, TLSVerifyCA, TLSVerifyIdentity:
	default:
		return nil, false, Permanent(fmt.Errorf("%s: TLS mode %q is not one of disabled, preferred, required, verify-ca, verify-identity", ep, t.Mode))
	}
	cfg = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: ep.Host}
	if t.Cert != "" || t.Key != "" {
		pair, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, false, Permanent(fmt.Errorf("%s: TLS client certificate: %w", ep, err))
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	var roots *x509.CertPool
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, false, Permanent(fmt.Errorf("%s: TLS CA: %w", ep, err))
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, false, Permanent(fmt.Errorf("%s: TLS CA %s holds no PEM certificate", ep, t.CA))
		}
	}
	switch t.Mode {
	case TLSPreferred, TLSRequired:
		// Encrypted, not authenticated: the mysql client's meaning.
		cfg.InsecureSkipVerify = true
	case TLSVerifyCA:
		// The chain must lead to CA; the host name is not checked.
		cfg.InsecureSkipVerify = true
		cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyChain(raw, roots)
		}
	case TLSVerifyIdentity:
		cfg.RootCAs = roots
	}
	return cfg, t.Mode == TLSPreferred, nil
}

// verifyChain checks that the server's certificates chain to roots.
func verifyChain(raw [][]byte, roots *x509.CertPool) error {
	if len(raw) == 0 {
		return errors.New("the server sent no certificate")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, r := range raw {
		c, err := x509.ParseCertificate(r)
		if err != nil {
			return fmt.Errorf("parse server certificate: %w", err)
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
	return err
}

// tlsConnector turns a TLS failure when connecting into a permanent error
// that names the endpoint: a certificate that does not verify stays so
// until the configuration changes.
type tlsConnector struct {
	driver.Connector
	ep Endpoint
	// raws, when set, records the buffered connection under each driver
	// connection this connector makes (the dump's source pool without
	// TLS: conn_rawquery.go)
	raws *rawConns
}

func (c tlsConnector) Connect(ctx context.Context) (driver.Conn, error) {
	var slot *rawSlot
	if c.raws != nil {
		ctx, slot = withRawSlot(ctx)
	}
	conn, err := c.Connector.Connect(ctx)
	if err != nil && isTLSFailure(err) {
		return nil, tlsError(c.ep, err)
	}
	if err == nil && slot != nil && slot.c != nil {
		c.raws.m.Store(conn, slot.c)
	}
	return conn, err
}

// tlsError wraps a TLS failure of ep as a permanent error saying what to check.
func tlsError(ep Endpoint, err error) error {
	return Permanent(fmt.Errorf("%s: TLS (mode %s): %w: check the endpoint's tls settings (mode, ca, cert, key) against the server's certificate", ep, orDefault(ep.TLS.Mode, TLSDisabled), err))
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// isTLSFailure reports whether err is a TLS handshake or verification
// failure rather than a network one.
func isTLSFailure(err error) bool {
	var (
		cv *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
		al tls.AlertError
		rh tls.RecordHeaderError
	)
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) ||
		errors.As(err, &al) || errors.As(err, &rh) || errors.Is(err, mysql.ErrNoTLS)
}

// sessionTLS reports whether db's connections are encrypted: what a binlog
// stream of mode preferred follows.
func sessionTLS(ctx context.Context, db *sql.DB) (bool, error) {
	var name, cipher string
	if err := db.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher); err != nil {
		return false, fmt.Errorf("read Ssl_cipher: %w", err)
	}
	return cipher != "", nil
}
