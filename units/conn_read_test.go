package units

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
)

// countingConn records the writes that reach the connection.
type countingConn struct {
	net.Conn
	writes []int
	fail   bool
}

func (c *countingConn) Write(b []byte) (int, error) {
	if c.fail {
		return 0, errors.New("broken pipe")
	}
	c.writes = append(c.writes, len(b))
	return c.Conn.Write(b)
}

// TestWriteBufferedConn drives the buffer as go-sql-driver does in a
// LOAD DATA LOCAL: a command, the server's request read, a stream of 16
// KiB packets, the empty packet that ends it, the answer read. The first
// write after a read goes out alone; the packets after it leave in runs
// of at most writeBufBytes, the last run with the end packet; the peer
// reads every byte in order.
func TestWriteBufferedConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	cc := &countingConn{Conn: a}
	c := &writeBufferedConn{Conn: cc, buf: make([]byte, 0, writeBufBytes)}
	var want bytes.Buffer
	got := make(chan []byte)
	go func() { // the peer: reads everything, answers one byte when asked
		var all []byte
		buf := make([]byte, 64<<10)
		for {
			n, err := b.Read(buf)
			all = append(all, buf[:n]...)
			if err != nil {
				got <- all
				return
			}
			if bytes.HasSuffix(all, []byte("?")) {
				b.Write([]byte("!"))
			}
		}
	}()
	write := func(p []byte) {
		t.Helper()
		if n, err := c.Write(p); n != len(p) || err != nil {
			t.Fatalf("write %d bytes: %d, %v", len(p), n, err)
		}
		want.Write(p)
	}
	ask := func() {
		t.Helper()
		write([]byte("?"))
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
	}
	ask() // a command and its answer
	if len(c.buf) != 0 || len(cc.writes) != 1 {
		t.Fatalf("after a command: %d bytes gathered, writes %v", len(c.buf), cc.writes)
	}
	packet := bytes.Repeat([]byte("p"), 16<<10+4)
	for i := range 40 {
		packet[0] = byte(i)
		write(packet)
	}
	ask() // the end packet and the answer
	c.Close()
	all := <-got
	if !bytes.Equal(all, want.Bytes()) {
		t.Fatalf("the peer read %d bytes, not the %d written in order", len(all), want.Len())
	}
	perRun := writeBufBytes / len(packet)
	// 1 command, 1 first packet alone, 39 packets in runs, the last run with the end
	if n := 2 + (39+perRun-1)/perRun; len(cc.writes) != n {
		t.Errorf("writes %v: %d system calls, want %d", cc.writes, len(cc.writes), n)
	}
	for _, w := range cc.writes {
		if w > writeBufBytes {
			t.Errorf("a write of %d bytes, more than the buffer's %d", w, writeBufBytes)
		}
	}
}

// TestWriteBufferedConnError: a failed send of gathered packets is the
// error of the next write; a command's first write that fails reports
// nothing written.
func TestWriteBufferedConnError(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go io.Copy(io.Discard, b)
	cc := &countingConn{Conn: a}
	c := &writeBufferedConn{Conn: cc, buf: make([]byte, 0, writeBufBytes)}
	packet := make([]byte, 16<<10)
	for range 3 {
		if _, err := c.Write(packet); err != nil {
			t.Fatal(err)
		}
	}
	cc.fail = true
	if n, err := c.Write([]byte{0, 0, 0, 9}); err == nil || n != 0 {
		t.Fatalf("end of a stream whose packets cannot be sent: %d, %v", n, err)
	}
	if len(c.buf) != 0 {
		t.Fatal("gathered bytes left after a failed send")
	}
	if n, err := c.Write(packet); err == nil || n != 0 {
		t.Fatalf("a command's first packet on a broken connection: %d, %v", n, err)
	}
}
