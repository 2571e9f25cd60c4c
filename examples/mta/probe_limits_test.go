package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// failed expects what a failed PROXY negotiation gets, and the close.
func failed(t *testing.T, p *peer) {
	t.Helper()
	if l, err := p.line(); !strings.HasPrefix(l, "220 ") {
		t.Fatalf("banner after a failed PROXY header: %q, %v", l, err)
	}
	// What is left of an invalid header is a refused line too.
	if l := p.cmd(t, "EHLO client.test"); !strings.HasPrefix(l, "503 ") {
		t.Fatalf("EHLO after a failed PROXY header: %q", l)
	}
	p.conn.Write([]byte("QUIT\r\n"))
	for {
		l, err := p.line()
		if err != nil {
			t.Fatalf("no 221 to QUIT after a failed PROXY header: %v", err)
		}
		if strings.HasPrefix(l, "221 ") {
			break
		}
		if !strings.HasPrefix(l, "503 ") {
			t.Fatalf("after a failed PROXY header: %q", l)
		}
	}
	p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, p.conn); err != nil {
		t.Fatalf("no close after QUIT: %v", err)
	}
	p.conn.Close()
}

// Places are given back however a connection ends: a PROXY header that
// is garbage, one that never comes (-proxy-timeout), a failed STARTTLS handshake, a client that resets.
// After many of each, with -max-connections 2, two clients are served
// and a third is refused; in both modes.
func TestProbeLimitsReleasedOnFailures(t *testing.T) {
	modes(t, func(t *testing.T, prdr bool) {
		cfg := proxyConfig(t, prdr)
		cfg.ProxyTimeout = 300 * time.Millisecond
		cfg.MaxConnections = 2
		cfg.MaxConnectionsPerHost = 1
		tm := startMTA(t, cfg)
		for range 5 {
			// A required host without a valid header is served as
			// Exim serves it (see proxyproto): banner, 503 to each
			// command, 221 to QUIT, then the close.
			bad := dialFrom(t, tm.addr, "127.0.0.1")
			bad.conn.Write([]byte("GARBAGE HEADER\r\n"))
			failed(t, bad)
			silent := dialFrom(t, tm.addr, "127.0.0.1")
			failed(t, silent)

			tlsFail := dialProxied(t, tm.addr, "192.0.2.9")
			tlsFail.line()
			tlsFail.cmd(t, "EHLO client.test")
			if l := tlsFail.cmd(t, "STARTTLS"); strings.HasPrefix(l, "220 ") {
				tlsFail.conn.Write([]byte("this is no ClientHello\r\n\r\n"))
				tlsFail.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				io.Copy(io.Discard, tlsFail.conn)
			}
			tlsFail.conn.Close()

			reset := dialProxied(t, tm.addr, "192.0.2.9")
			reset.line()
			reset.conn.(interface{ SetLinger(int) error }).SetLinger(0)
			reset.conn.Close()
		}
		deadline := time.Now().Add(10 * time.Second)
		var in []*peer
		for _, client := range []string{"192.0.2.1", "192.0.2.2"} {
			for {
				p := dialProxied(t, tm.addr, client)
				l, err := p.line()
				if strings.HasPrefix(l, "220 ") {
					in = append(in, p)
					break
				}
				p.conn.Close()
				if time.Now().After(deadline) {
					t.Fatalf("%s never served: %q, %v", client, l, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		over := dialProxied(t, tm.addr, "192.0.2.3")
		if l, err := over.line(); !strings.HasPrefix(l, "421 4.7.0 ") {
			t.Fatalf("third client with two in: %q, %v", l, err)
		}
		for _, p := range in {
			if l := p.cmd(t, "NOOP"); !strings.HasPrefix(l, "250 ") {
				t.Fatalf("client in not served: %q", l)
			}
		}
	})
}

// RFC 3207 section 4.1: after the 220 to STARTTLS the connection is TLS.
// A handshake that fails leaves no session to go on with: the server
// closes, in both modes, rather than read more commands in clear text
// (go-smtp alone answers 550 in clear and reads on).
func TestProbeFailedHandshakeCloses(t *testing.T) {
	modes(t, func(t *testing.T, prdr bool) {
		cfg := testConfig(t)
		cfg.PRDR = prdr
		tm := startMTA(t, cfg)
		c := greet(t, tm.addr)
		c.MustCmd("STARTTLS", 220)
		c.Write("NOOP\r\nNOOP\r\n") // TLS takes "NOOP\r" for a record header
		c.Conn().SetReadDeadline(time.Now().Add(5 * time.Second))
		var got strings.Builder
		if _, err := io.Copy(&got, c.Conn()); err != nil {
			t.Fatalf("connection left open after a failed handshake (got %q): %v", got.String(), err)
		}
		c.Conn().SetReadDeadline(time.Now().Add(5 * time.Second))
		if strings.Contains(got.String(), "250") {
			t.Fatalf("clear-text command served after STARTTLS: %q", got.String())
		}
	})
}
