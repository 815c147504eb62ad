package units

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// How the units notice a server that stopped answering. Three layers, each
// for a failure the others cannot see (docs/faults.md has the measured
// figures):
//
//   - TCP, per connection: keepalive probes after keepAliveIdle of silence,
//     every keepAliveInterval, and a TCP user timeout of tcpUserTimeout for
//     data sent and never acknowledged. A dead host, a cable pulled, a
//     firewall that forgot the connection: the connection breaks within
//     about 30 s even while a statement waits for its answer.
//   - The link watch (link.go), per run attempt: a trivial query to the
//     source and to the target every second on a connection of its own; no
//     answer within Config.LinkTimeout (default 10 s) ends the attempt,
//     which cancels every statement, and the unit retries from its
//     checkpoint. It catches what TCP cannot: a peer that acknowledges and
//     never answers (a frozen server, a stuck proxy), and it never limits
//     how long a statement may legitimately run.
//   - Per statement: every statement runs under the attempt's context
//     (commit too, see commit); the driver's read and write timeouts are a
//     last resort against a single stuck connection, generous enough for
//     the longest statement the units send (DDL, which may run for hours,
//     uses a connection without a read timeout: ddlConn).
const (
	keepAliveIdle     = 15 * time.Second
	keepAliveInterval = 5 * time.Second
	keepAliveCount    = 3
	tcpUserTimeout    = 30 * time.Second

	// netReadTimeout is go-sql-driver's readTimeout: the longest a
	// statement may run without sending anything back (a LOAD DATA chunk,
	// an UPDATE that scans a table without a key).
	netReadTimeout = 15 * time.Minute
	// netWriteTimeout is its writeTimeout: the longest a write may wait
	// for the peer to take data.
	netWriteTimeout = time.Minute
)

// dialTCP dials addr with the units' keepalive and user timeout.
func dialTCP(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: keepAliveIdle, Interval: keepAliveInterval, Count: keepAliveCount},
		Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) { serr = setUserTimeout(fd, tcpUserTimeout) }); err != nil {
				return err
			}
			return serr
		},
	}
	return d.DialContext(ctx, network, addr)
}

// binlogDialer dials the binlog stream's connections. go-mysql bounds none
// of its handshakes by a context, and its Close opens a connection to KILL
// the stream on the server: with a source that stopped answering, that
// would wait for ever. A handshake is therefore bounded by the dial
// context's deadline (go-mysql gives 10 s), and once closing is set (the
// unit is stopping) every new connection has 2 s to live: the KILL is a
// courtesy (the server ends the stream itself at its next heartbeat).
type binlogDialer struct{ closing atomic.Bool }

const binlogCloseBound = 2 * time.Second

func (d *binlogDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.closing.Load() {
		ctx2, cancel := context.WithTimeout(ctx, binlogCloseBound)
		defer cancel()
		c, err := dialTCP(ctx2, network, addr)
		if err != nil {
			return nil, err
		}
		_ = c.SetDeadline(time.Now().Add(binlogCloseBound))
		return c, nil
	}
	c, err := dialTCP(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	// The handshake runs after dial returns; go-mysql cancels ctx once it
	// is over (Canceled), or its deadline passes first (DeadlineExceeded).
	context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			_ = c.SetDeadline(time.Now())
		}
	})
	return c, nil
}

// commit commits tx under ctx. database/sql's Commit takes no context and
// go-sql-driver watches none while it runs, so a COMMIT sent into a link
// that stopped answering would wait for the read timeout; COMMIT as a
// statement is cancelled with ctx like every other (the driver then drops
// the connection). Its outcome is then unknown, as with any lost
// connection: every transaction the units commit carries its own
// checkpoint, compared and set, so the next attempt finds out. Commit
// afterwards only ends database/sql's transaction (a COMMIT of nothing).
func commit(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, "COMMIT"); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
