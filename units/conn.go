package units

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/dmplan/dmplan/units/ddl"
	"github.com/dmplan/dmplan/units/job"
)

// driverConfig builds ep's go-sql-driver configuration, TLS included. It is
// never logged: it holds the password.
func driverConfig(ep Endpoint, db string) (*mysql.Config, error) {
	c := mysql.NewConfig()
	c.User = ep.User
	c.Passwd = ep.Password
	c.Net = "tcp"
	c.Addr = net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port))
	c.DBName = db
	c.AllowNativePasswords = true
	c.InterpolateParams = true
	c.Timeout = 10 * time.Second
	c.DialFunc = dialTCP // keepalive and TCP user timeout (conn_net.go)
	c.ReadTimeout = netReadTimeout
	c.WriteTimeout = netWriteTimeout
	if err := c.Apply(mysql.Charset("utf8mb4", "")); err != nil {
		return nil, fmt.Errorf("open %s: %w", ep, err)
	}
	c.MaxAllowedPacket = 0 // read it from the server
	tc, fallback, err := tlsConfig(ep)
	if err != nil {
		return nil, err
	}
	c.TLS = tc
	c.AllowFallbackToPlaintext = fallback
	return c, nil
}

// openDB opens a pool on c; with raws set, its connections are recorded
// there for raw chunk queries.
func openDB(ep Endpoint, c *mysql.Config, maxConns int, raws *rawConns) (*sql.DB, error) {
	conn, err := mysql.NewConnector(c)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", ep, err)
	}
	db := sql.OpenDB(tlsConnector{Connector: conn, ep: ep, raws: raws})
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxLifetime(time.Hour)
	return db, nil
}

// Open opens a connection pool to ep. It does not connect; use PingContext.
func Open(ep Endpoint, maxConns int) (*sql.DB, error) {
	c, err := driverConfig(ep, "")
	if err != nil {
		return nil, err
	}
	return openDB(ep, c, maxConns, nil)
}

// openLoadTarget is Open, with multi-statement round trips when fenced
// (a chunk's COMMIT is sent behind the fence's assertion, fence.go).
func openLoadTarget(ep Endpoint, maxConns int, fenced bool) (*sql.DB, error) {
	c, err := driverConfig(ep, "")
	if err != nil {
		return nil, err
	}
	c.MultiStatements = fenced
	c.DialFunc = dialWriteBuffered
	return openDB(ep, c, maxConns, nil)
}

// QuoteIdent quotes a schema, table or column name with backticks,
// doubling any backtick inside it.
func QuoteIdent(name string) string {
	return ddl.QuoteIdent(name)
}

// quoteTable quotes "db"."table" as `db`.`table`.
func quoteTable(db, table string) string { return QuoteIdent(db) + "." + QuoteIdent(table) }

// DetectFlavor asks the server what it is: "mariadb" or "mysql".
func DetectFlavor(ctx context.Context, db *sql.DB) (string, error) {
	var v string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v); err != nil {
		return "", fmt.Errorf("detect flavor: %w", err)
	}
	if strings.Contains(strings.ToLower(v), "mariadb") {
		return "mariadb", nil
	}
	return "mysql", nil
}

// ErrPermanent marks errors that retrying cannot fix (job.ErrPermanent).
var ErrPermanent = job.ErrPermanent

// Permanent marks err as not worth retrying (job.Permanent).
func Permanent(err error) error { return job.Permanent(err) }

// isTransient reports whether err is worth retrying: connections lost or
// refused, a server restarting, deadlocks and lock wait timeouts.
func isTransient(err error) bool {
	if err == nil || errors.Is(err, ErrPermanent) {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1213, // ER_LOCK_DEADLOCK
			1205,                   // ER_LOCK_WAIT_TIMEOUT
			1040,                   // ER_CON_COUNT_ERROR
			1053,                   // ER_SERVER_SHUTDOWN
			1077, 1078, 1079, 1080, // shutdown in progress
			2006, 2013, // gone away, lost connection
			1927, // ER_CONNECTION_KILLED (MariaDB)
			1317, // ER_QUERY_INTERRUPTED
			4031: // idle client disconnected
			return true
		}
		return false
	}
	if errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, driverBadConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// openDumpSource is Open for the dump's snapshot connections: their reads
// go through a readBufBytes buffer (conn_read.go). Without TLS their
// chunk queries can run below the driver: the pool's connections are
// recorded in the rawConns returned (nil with TLS).
func openDumpSource(ep Endpoint, maxConns int) (*sql.DB, *rawConns, error) {
	c, err := driverConfig(ep, "")
	if err != nil {
		return nil, nil, err
	}
	c.DialFunc = dialBuffered
	var raws *rawConns
	if rawReads(ep) {
		raws = &rawConns{}
	}
	db, err := openDB(ep, c, maxConns, raws)
	return db, raws, err
}
