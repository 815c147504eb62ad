package units

import (
	"bufio"
	"context"
	"net"
	"sync/atomic"
	"syscall"
	"time"
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
	// raw: a raw query runs (conn_rawquery.go): every read of the
	// socket renews the read deadline, or, once stopped (its context
	// cancelled), fails at once
	raw, stopped atomic.Bool
}

// socketReader is what the buffer reads from: the connection, with the
// read deadline a raw query needs.
type socketReader struct{ c *bufferedConn }

func (s socketReader) Read(b []byte) (int, error) {
	c := s.c
	if c.raw.Load() {
		c.Conn.SetReadDeadline(time.Now().Add(netReadTimeout))
		if c.stopped.Load() { // after the renewal: a cancellation never loses to it
			c.Conn.SetReadDeadline(time.Unix(1, 0))
		}
	}
	return c.Conn.Read(b)
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// SyscallConn lets go-sql-driver check an idle connection's liveness
// before reuse (a pooled connection holds no unread bytes in the buffer:
// the protocol reads every result to its end).
func (c *bufferedConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

// dialBuffered is dialTCP with a read buffer. A dial context with a raw
// slot (withRawSlot) gets the connection back in the slot.
func dialBuffered(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := dialTCP(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	bc := &bufferedConn{Conn: c}
	bc.r = bufio.NewReaderSize(socketReader{bc}, readBufBytes)
	if s, ok := ctx.Value(rawSlotKey{}).(*rawSlot); ok {
		s.c = bc
	}
	return bc, nil
}

// dialWrapped is dialTCP with the connection wrapped by wrap.
func dialWrapped(wrap func(net.Conn) net.Conn) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialTCP(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return wrap(c), nil
	}
}

// writeBufBytes is the write buffer of a load connection. go-sql-driver
// sends a LOAD DATA LOCAL stream in 16 KiB packets, one write system call
// each (about 12,000 for 800,000 sysbench rows); behind this buffer they
// leave in runs of up to writeBufBytes.
const writeBufBytes = 256 << 10

// bulkWriteBytes: a write of at least this size is a bulk packet (a
// stream's 16 KiB, a long statement).
const bulkWriteBytes = 4 << 10

// writeBufferedConn is a net.Conn that gathers runs of bulk packets. The
// first write after a read (the first packet of a command or of a LOAD
// DATA stream) goes out at once, as it would without the buffer, so that
// go-sql-driver's "nothing was written" (n == 0, when it may retry a
// command on another connection) stays true; the bulk packets that follow
// it are gathered, and a smaller write (the stream's end) or a read (the
// answer awaited) sends them first. A failed send of gathered packets is
// reported by the next write or read, as an error of the statement under
// way. Close drops what is gathered: a connection closed in the middle of
// a stream is being torn down after an error.
type writeBufferedConn struct {
	net.Conn
	buf    []byte
	stream bool // the last write was a bulk packet: the next bulk one is gathered
}

func (c *writeBufferedConn) Write(b []byte) (int, error) {
	bulk := len(b) >= bulkWriteBytes && len(b) <= cap(c.buf)
	if bulk && c.stream {
		if len(c.buf)+len(b) > cap(c.buf) {
			if err := c.flush(); err != nil {
				return 0, err
			}
		}
		c.buf = append(c.buf, b...)
		return len(b), nil
	}
	if len(c.buf) > 0 {
		if !bulk && len(c.buf)+len(b) <= cap(c.buf) { // the run's end: one system call with it
			c.buf = append(c.buf, b...)
			c.stream = false
			if err := c.flush(); err != nil {
				return 0, err
			}
			return len(b), nil
		}
		if err := c.flush(); err != nil {
			return 0, err
		}
	}
	c.stream = bulk
	return c.Conn.Write(b)
}

func (c *writeBufferedConn) flush() error {
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}

func (c *writeBufferedConn) Read(b []byte) (int, error) {
	c.stream = false
	if len(c.buf) > 0 {
		if err := c.flush(); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(b)
}

// SyscallConn: as bufferedConn's (nothing is gathered between commands).
func (c *writeBufferedConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

// dialWriteBuffered is dialTCP with a write buffer.
var dialWriteBuffered = dialWrapped(func(c net.Conn) net.Conn {
	return &writeBufferedConn{Conn: c, buf: make([]byte, 0, writeBufBytes)}
})
