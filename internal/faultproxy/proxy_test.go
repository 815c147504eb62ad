package faultproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// echo serves a line echo on loopback.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(c net.Conn, r *bufio.Reader, d time.Duration) (time.Duration, error) {
	c.SetDeadline(time.Now().Add(d))
	start := time.Now()
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return 0, err
	}
	line, err := r.ReadString('\n')
	if err == nil && line != "ping\n" {
		err = errors.New("echo returned " + line)
	}
	return time.Since(start), err
}

func TestModes(t *testing.T) {
	p, err := Start(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if _, err := roundTrip(c, r, 5*time.Second); err != nil {
		t.Fatalf("pass: %v", err)
	}

	p.SetDelay(100 * time.Millisecond)
	if took, err := roundTrip(c, r, 5*time.Second); err != nil || took < 200*time.Millisecond {
		t.Fatalf("delay 100ms each way: round trip %s, %v (want >= 200ms)", took, err)
	}
	p.SetDelay(0)

	p.Set(Blackhole)
	if _, err := roundTrip(c, r, 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blackhole: %v, want a timeout", err)
	}
	// A new connection is accepted but answers nothing either.
	c2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatalf("blackhole must accept: %v", err)
	}
	if _, err := roundTrip(c2, bufio.NewReader(c2), 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blackhole, new connection: %v, want a timeout", err)
	}
	c2.Close()
	// Healed: what was held back arrives (the echo of the ping sent while
	// blackholed comes first), then traffic flows again.
	p.Set(Pass)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if line, err := r.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("after healing: %q, %v", line, err)
	}
	if _, err := roundTrip(c, r, 5*time.Second); err != nil {
		t.Fatalf("after healing: %v", err)
	}

	p.Set(Cut)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadString('\n'); !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
		t.Fatalf("cut: read %v, want a reset", err)
	}
	c3, err := net.Dial("tcp", p.Addr())
	if err == nil {
		c3.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = c3.Read(make([]byte, 1))
		c3.Close()
	}
	if err == nil {
		t.Fatal("cut: a new connection worked")
	}
}
