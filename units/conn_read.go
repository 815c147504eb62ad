package units

import (
	"bufio"
	"context"
	"net"
	"syscall"
)

// readBufBytes is the read buffer of a dump connection. go-sql-driver reads
// a result set 4 KiB at a time, one system call each (about 40,000 for
// 800,000 sysbench rows); behind this buffer one call takes whatever the
// socket holds, up to 128 KiB.
const readBufBytes = 128 << 10

// bufferedConn is a net.Conn whose reads go through a buffer. Deadlines,
// writes and Close are the connection's own: a read the buffer can serve
// never blocks, and one it cannot goes to the socket under the deadline.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// SyscallConn lets go-sql-driver check an idle connection's liveness
// before reuse (a pooled connection holds no unread bytes in the buffer:
// the protocol reads every result to its end).
func (c *bufferedConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

// dialBuffered is dialTCP with a read buffer.
func dialBuffered(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := dialTCP(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, readBufBytes)}, nil
}
