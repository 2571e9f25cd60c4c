// Package rttproxy is a loopback TCP proxy for tests that delays traffic
// and counts round trips.
//
// Loopback has no latency, so a protocol that saves round trips (SMTP
// PIPELINING, PIPECONNECT, TLS 1.3) looks no faster there. The proxy adds a
// fixed one-way delay to every byte in each direction, without limiting
// throughput (data read is forwarded when its delay has passed, in order),
// and counts flights: a client flight is data from the client that follows
// data from the server (or is the first), a server flight the reverse. A
// client that writes MAIL, RCPT and DATA in one write and then waits makes
// one client flight; one that waits for each reply makes one per command.
//
//	p := rttproxy.Start(t, srv.Addr, time.Millisecond)
//	before := p.ClientFlights()
//	... talk to p.Addr ...
//	rounds := p.ClientFlights() - before
package rttproxy

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy forwards connections from Addr to a target.
type Proxy struct {
	// Addr is the loopback address to connect to.
	Addr string

	target string
	delay  time.Duration
	ln     net.Listener
	wg     sync.WaitGroup

	mu            sync.Mutex
	conns         []net.Conn
	accepted      int
	clientFlights int
	serverFlights int
	closed        bool
}

// Start listens on 127.0.0.1:0 and forwards every connection to target,
// each direction delayed by delay. The proxy stops when the test ends.
func Start(t testing.TB, target string, delay time.Duration) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("rttproxy: listen: %v", err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, delay: delay, ln: ln}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.Close)
	return p
}

// ClientFlights counts the client flights over all connections so far.
func (p *Proxy) ClientFlights() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.clientFlights
}

// ServerFlights counts the server flights over all connections so far.
func (p *Proxy) ServerFlights() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.serverFlights
}

// Conns counts the connections accepted so far.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Close stops listening, closes every connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		cc, err := p.ln.Accept()
		if err != nil {
			return
		}
		sc, err := net.DialTimeout("tcp", p.target, 10*time.Second)
		if err != nil {
			cc.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			cc.Close()
			sc.Close()
			return
		}
		p.accepted++
		p.conns = append(p.conns, cc, sc)
		p.mu.Unlock()
		pair := &pair{p: p}
		p.wg.Add(2)
		go pair.pump(cc, sc, true)
		go pair.pump(sc, cc, false)
	}
}

// pair is one proxied connection; last is the direction of the latest data.
type pair struct {
	p       *Proxy
	mu      sync.Mutex
	started bool
	last    bool // true: client to server
	done    int
}

// note counts a flight when the direction changes.
func (c *pair) note(fromClient bool) {
	c.mu.Lock()
	changed := !c.started || c.last != fromClient
	c.started, c.last = true, fromClient
	c.mu.Unlock()
	if !changed {
		return
	}
	c.p.mu.Lock()
	if fromClient {
		c.p.clientFlights++
	} else {
		c.p.serverFlights++
	}
	c.p.mu.Unlock()
}

type packet struct {
	data []byte
	due  time.Time
}

// pump copies src to dst, each read delivered delay after it was read.
// At EOF the write side of dst is shut; when both directions are done
// both connections are closed.
func (c *pair) pump(src, dst net.Conn, fromClient bool) {
	defer c.p.wg.Done()
	q := make(chan packet, 1024)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for pk := range q {
			if d := time.Until(pk.due); d > 0 {
				time.Sleep(d)
			}
			if _, err := dst.Write(pk.data); err != nil {
				src.Close()
				for range q {
				}
				return
			}
		}
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}()
	for {
		buf := make([]byte, 32<<10)
		n, err := src.Read(buf)
		if n > 0 {
			c.note(fromClient)
			q <- packet{data: buf[:n], due: time.Now().Add(c.p.delay)}
		}
		if err != nil {
			if err != io.EOF {
				dst.Close()
			}
			break
		}
	}
	close(q)
	<-sent
	c.mu.Lock()
	c.done++
	both := c.done == 2
	c.mu.Unlock()
	if both {
		src.Close()
		dst.Close()
	}
}
