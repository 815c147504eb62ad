// Package faultproxy is a TCP proxy for tests that injects the faults real
// links have: delay, a cut (every connection reset), and a blackhole (the
// link accepts and then never answers, as a partitioned or frozen peer
// does). Put it between a client and a server on loopback and switch its
// mode while traffic flows.
package faultproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Mode is what the proxy does to traffic.
type Mode int

const (
	// Pass forwards bytes as they come (after Delay, when set).
	Pass Mode = iota
	// Blackhole keeps connections open and accepts new ones but forwards
	// nothing in either direction: reads on both sides wait forever.
	Blackhole
	// Cut resets every connection (RST) and every new one at once.
	Cut
)

// Proxy forwards connections from Addr to a target address.
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	mode  Mode
	delay time.Duration
	conns map[*link]struct{}
	wake  chan struct{} // closed when the mode or delay changes
	done  chan struct{}
	wg    sync.WaitGroup
}

// link is one proxied connection.
type link struct{ client, server net.Conn }

// Start listens on a free loopback port and forwards to target.
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[*link]struct{}{}, wake: make(chan struct{}), done: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Port is the proxy's port.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Set switches the mode; Cut resets the connections open now.
func (p *Proxy) Set(m Mode) {
	p.mu.Lock()
	p.mode = m
	var cut []*link
	if m == Cut {
		for l := range p.conns {
			cut = append(cut, l)
		}
	}
	close(p.wake)
	p.wake = make(chan struct{})
	p.mu.Unlock()
	for _, l := range cut {
		reset(l.client)
		reset(l.server)
	}
}

// SetDelay delays every chunk of bytes, each way, by d.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	close(p.wake)
	p.wake = make(chan struct{})
	p.mu.Unlock()
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	close(p.done)
	err := p.ln.Close()
	p.mu.Lock()
	for l := range p.conns {
		l.client.Close()
		l.server.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) state() (Mode, time.Duration, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode, p.delay, p.wake
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if m, _, _ := p.state(); m == Cut {
			reset(c)
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		reset(client)
		return
	}
	l := &link{client: client, server: server}
	p.mu.Lock()
	p.conns[l] = struct{}{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(server, client) }()
	go func() { defer wg.Done(); p.pipe(client, server) }()
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, l)
	p.mu.Unlock()
}

// pipe copies src to dst, holding bytes back while blackholed and
// delaying them when asked. A delay is latency, not a rate: every chunk
// leaves delay after it arrived, so bytes in flight do not add up their
// delays (a reader goroutine keeps reading while earlier chunks wait). It
// ends when either side closes.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	type chunk struct {
		b  []byte
		at time.Time
	}
	q := make(chan chunk, 64)
	quit := make(chan struct{})
	defer close(quit)
	var rerr error
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				select {
				case q <- chunk{buf[:n], time.Now()}:
				case <-quit:
					return
				}
			}
			if err != nil {
				rerr = err // read by pipe after q is closed
				return
			}
		}
	}()
	for c := range q {
		if !p.hold() {
			return
		}
		if _, d, _ := p.state(); d > 0 {
			if wait := time.Until(c.at.Add(d)); wait > 0 {
				select {
				case <-time.After(wait):
				case <-p.done:
					return
				}
			}
		}
		if !p.hold() { // blackholed or cut while delayed
			return
		}
		if _, werr := dst.Write(c.b); werr != nil {
			return
		}
	}
	if errors.Is(rerr, io.EOF) {
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}
}

// hold waits while the proxy is blackholed; false when it closes or cuts.
func (p *Proxy) hold() bool {
	for {
		m, _, wake := p.state()
		switch m {
		case Pass:
			return true
		case Cut:
			return false
		}
		select {
		case <-wake:
		case <-p.done:
			return false
		}
	}
}

// reset closes c with an RST rather than a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
