package main

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/proxyproto"
)

// peer is a raw loopback client from a chosen source address.
type peer struct {
	conn net.Conn
	r    *bufio.Reader
}

func dialFrom(t *testing.T, addr, src string) *peer {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return &peer{conn: c, r: bufio.NewReader(c)}
}

// line reads one reply line ("" and the error when there is none).
func (p *peer) line() (string, error) {
	p.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := p.r.ReadString('\n')
	return strings.TrimRight(l, "\r\n"), err
}

// cmd sends a command and reads the last line of its reply.
func (p *peer) cmd(t *testing.T, cmd string) string {
	t.Helper()
	p.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := p.conn.Write([]byte(cmd + "\r\n")); err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	for {
		l, err := p.line()
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		if len(l) < 4 || l[3] != '-' {
			return l
		}
	}
}

// served dials from src and expects the banner.
func served(t *testing.T, addr, src string) *peer {
	t.Helper()
	p := dialFrom(t, addr, src)
	if l, err := p.line(); !strings.HasPrefix(l, "220 ") {
		t.Fatalf("from %s: banner %q, %v", src, l, err)
	}
	return p
}

// refused dials from src and expects 421 4.7.0, then the close.
func refused(t *testing.T, addr, src string) {
	t.Helper()
	p := dialFrom(t, addr, src)
	l, err := p.line()
	if !strings.HasPrefix(l, "421 4.7.0 ") {
		t.Fatalf("from %s: want 421 4.7.0, got %q, %v", src, l, err)
	}
	if l, err := p.line(); err == nil {
		t.Fatalf("from %s: connection left open after the 421: %q", src, l)
	}
}

// servedSoon retries until a connection from src is served: the place of
// a closed connection is freed once the server has closed it too.
func servedSoon(t *testing.T, addr, src string) *peer {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p := dialFrom(t, addr, src)
		l, err := p.line()
		if strings.HasPrefix(l, "220 ") {
			return p
		}
		p.conn.Close()
		if time.Now().After(deadline) {
			t.Fatalf("from %s: never served again: %q, %v", src, l, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Exim's smtp_accept_max: past -max-connections a client gets 421 4.7.0
// and is closed; the ones in are still served, and closing one of them
// makes room again.
func TestListenMaxConnections(t *testing.T) {
	for _, prdr := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "prdr"}[prdr], func(t *testing.T) {
			cfg := testConfig(t)
			cfg.PRDR = prdr
			cfg.MaxConnections = 3
			cfg.MaxConnectionsPerHost = 0
			tm := startMTA(t, cfg)
			var in []*peer
			for i := 0; i < 3; i++ {
				in = append(in, served(t, tm.addr, "127.0.0.1"))
			}
			refused(t, tm.addr, "127.0.0.1")
			refused(t, tm.addr, "127.0.0.2") // the limit is for everyone
			for _, p := range in {
				if l := p.cmd(t, "EHLO client.test"); !strings.HasPrefix(l, "250 ") {
					t.Fatalf("connection in was not served: %q", l)
				}
			}
			if l := in[0].cmd(t, "QUIT"); !strings.HasPrefix(l, "221 ") {
				t.Fatalf("QUIT: %q", l)
			}
			in[0].conn.Close()
			p := servedSoon(t, tm.addr, "127.0.0.2")
			if l := p.cmd(t, "EHLO client.test"); !strings.HasPrefix(l, "250 ") {
				t.Fatalf("new connection not served: %q", l)
			}
			refused(t, tm.addr, "127.0.0.1") // and the limit holds again
		})
	}
}

// Exim's smtp_accept_max_per_host: each client IP has its own count.
func TestListenMaxConnectionsPerHost(t *testing.T) {
	for _, prdr := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "prdr"}[prdr], func(t *testing.T) {
			cfg := testConfig(t)
			cfg.PRDR = prdr
			cfg.MaxConnectionsPerHost = 2
			tm := startMTA(t, cfg)
			a1 := served(t, tm.addr, "127.0.0.1")
			served(t, tm.addr, "127.0.0.1")
			refused(t, tm.addr, "127.0.0.1")
			// Another host is not held up by the first one's count.
			b1 := served(t, tm.addr, "127.0.0.2")
			served(t, tm.addr, "127.0.0.2")
			refused(t, tm.addr, "127.0.0.2")
			for _, p := range []*peer{a1, b1} {
				if l := p.cmd(t, "NOOP"); !strings.HasPrefix(l, "250 ") {
					t.Fatalf("connection in was not served: %q", l)
				}
			}
			// Closing frees the place of that host only.
			a1.cmd(t, "QUIT")
			a1.conn.Close()
			servedSoon(t, tm.addr, "127.0.0.1")
			refused(t, tm.addr, "127.0.0.1")
			refused(t, tm.addr, "127.0.0.2")
		})
	}
}

// dialProxied connects as a load balancer on 127.0.0.1 would, with a
// PROXY v1 header naming client as the source.
func dialProxied(t *testing.T, addr, client string) *peer {
	t.Helper()
	p := dialFrom(t, addr, "127.0.0.1")
	p.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := p.conn.Write([]byte("PROXY TCP4 " + client + " 192.0.2.25 40000 25\r\n")); err != nil {
		t.Fatal(err)
	}
	return p
}

func proxyConfig(t *testing.T, prdr bool) config {
	cfg := testConfig(t)
	cfg.PRDR = prdr
	var err error
	if cfg.ProxyRequiredHosts, err = proxyproto.ParseHosts("127.0.0.1/32"); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Behind a PROXY load balancer every connection comes from the balancer:
// the per-host limit counts the client the header names.
func TestListenMaxConnectionsPerHostCountsProxiedClient(t *testing.T) {
	for _, prdr := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "prdr"}[prdr], func(t *testing.T) {
			cfg := proxyConfig(t, prdr)
			cfg.MaxConnectionsPerHost = 1
			tm := startMTA(t, cfg)
			banner := func(p *peer) string {
				l, _ := p.line()
				return l
			}
			first := dialProxied(t, tm.addr, "192.0.2.1")
			if l := banner(first); !strings.HasPrefix(l, "220 ") {
				t.Fatalf("first client: %q", l)
			}
			again := dialProxied(t, tm.addr, "192.0.2.1")
			if l := banner(again); !strings.HasPrefix(l, "421 4.7.0 ") {
				t.Fatalf("second connection of the client: %q", l)
			}
			other := dialProxied(t, tm.addr, "192.0.2.2")
			if l := banner(other); !strings.HasPrefix(l, "220 ") {
				t.Fatalf("another client through the same balancer: %q", l)
			}
			if l := first.cmd(t, "EHLO client.test"); !strings.HasPrefix(l, "250 ") {
				t.Fatalf("first client not served: %q", l)
			}
		})
	}
}

// A refused client that sends nothing (here: a PROXY header that never
// comes, so even the 421 waits) holds up nobody: Accept goes on, and the
// next client is served as soon as there is room.
func TestListenRefusalNeverHoldsAccept(t *testing.T) {
	cfg := proxyConfig(t, false)
	cfg.ProxyTimeout = time.Minute
	cfg.MaxConnections = 1
	tm := startMTA(t, cfg)
	in := dialProxied(t, tm.addr, "192.0.2.1")
	if l, err := in.line(); !strings.HasPrefix(l, "220 ") {
		t.Fatalf("first client: %q, %v", l, err)
	}
	for range 3 {
		dialFrom(t, tm.addr, "127.0.0.1") // over the limit, and silent
	}
	// Accept takes connections in order: this one's 421 means the silent
	// ones were refused before it, and that they do not hold Accept up.
	probe := dialProxied(t, tm.addr, "192.0.2.3")
	if l, err := probe.line(); !strings.HasPrefix(l, "421 4.7.0 ") {
		t.Fatalf("client over the limit behind the silent ones: %q, %v", l, err)
	}
	in.cmd(t, "QUIT")
	in.conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p := dialProxied(t, tm.addr, "192.0.2.2")
		l, err := p.line()
		if strings.HasPrefix(l, "220 ") {
			break
		}
		p.conn.Close()
		if time.Now().After(deadline) {
			t.Fatalf("next client never served: %q, %v", l, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
