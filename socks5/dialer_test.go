package socks5

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

var quiet = slog.New(slog.DiscardHandler)

// proxyAt is a Proxy for a test server.
func proxyAt(s *testServer) Proxy {
	p := Proxy{Host: "127.0.0.1", Port: s.port()}
	if s.User != "" {
		p.Auth, p.Username, p.Password = AuthName, s.User, s.Pass
	}
	return p
}

// deadPort is a loopback port where nothing listens.
func deadPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func send(t *testing.T, d *Dialer, addr string) (*client.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr, &client.Options{Hostname: "relay.test", Dialer: d})
	if err != nil {
		return nil, err
	}
	res, err := c.Send(ctx, &client.Envelope{From: "a@x.test", To: []string{"b@y.test"}}, strings.NewReader("Subject: s\r\n\r\nhi\r\n"))
	if err != nil || res.Recipients[0].Status != client.Accepted {
		t.Fatalf("send: %v %+v", err, res)
	}
	return c, nil
}

// The client engine delivers through the dialer, with and without RFC
// 1929 authentication; the server sees the proxy's connection.
func TestClientThroughProxy(t *testing.T) {
	for _, s := range []*testServer{{}, {User: "u", Pass: "secret"}} {
		name := "none"
		if s.User != "" {
			name = "name"
		}
		t.Run(name, func(t *testing.T) {
			srv := startServer(t, s)
			sink := &smtptest.Sink{}
			mx := smtptest.Start(t, sink)
			d := &Dialer{Proxies: []Proxy{proxyAt(srv)}, Logger: quiet}
			c, err := send(t, d, mx.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.RemoteAddr().String() != srv.Addr {
				t.Fatalf("remote %v, want the proxy %s", c.RemoteAddr(), srv.Addr)
			}
			if got := srv.Targets(); len(got) != 1 || got[0] != mx.Addr {
				t.Fatalf("targets %v", got)
			}
			if n := len(sink.Messages()); n != 1 {
				t.Fatalf("%d messages", n)
			}
		})
	}
}

func TestConnReportsProxy(t *testing.T) {
	srv := startServer(t, &testServer{User: "u", Pass: "pw"})
	mx := smtptest.Start(t, &smtptest.Sink{})
	d := &Dialer{Proxies: []Proxy{proxyAt(srv)}, Logger: quiet}
	nc, err := d.DialContext(context.Background(), "tcp", mx.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := nc.(*Conn)
	p, ok := ProxyOf(nc)
	if !ok || p.Addr() != srv.Addr || c.Proxy().Username != "u" || c.NetConn().RemoteAddr().String() != srv.Addr {
		t.Fatalf("proxy %+v %v", p, ok)
	}
	// The bound address is the proxy's end towards the target.
	if !strings.HasPrefix(c.BoundAddr(), "127.0.0.1:") {
		t.Fatalf("bound %q", c.BoundAddr())
	}
	buf := make([]byte, 3)
	if _, err := io.ReadFull(nc, buf); err != nil || string(buf) != "220" {
		t.Fatalf("banner %q %v", buf, err)
	}
	if _, ok := ProxyOf(c.NetConn()); ok {
		t.Fatal("ProxyOf found a proxy below the proxy")
	}
}

// Failover: a proxy that is down, one that refuses the credentials and
// one that answers with an error reply are skipped; the last one works.
func TestFailover(t *testing.T) {
	refusing := startServer(t, &testServer{User: "u", Pass: "right"})
	replying := startServer(t, &testServer{Reply: ReplyNotAllowed})
	good := startServer(t, &testServer{})
	mx := smtptest.Start(t, &smtptest.Sink{})
	bad := proxyAt(refusing)
	bad.Password = "wrong"
	d := &Dialer{Logger: quiet, Proxies: []Proxy{
		{Host: "127.0.0.1", Port: deadPort(t)}, bad, proxyAt(replying), proxyAt(good),
	}}
	c, err := send(t, d, mx.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if c.RemoteAddr().String() != good.Addr {
		t.Fatalf("went through %v", c.RemoteAddr())
	}
}

// When every proxy fails, the error says which failed and why, and never
// shows the password.
func TestAllFail(t *testing.T) {
	refusing := startServer(t, &testServer{User: "u", Pass: "right"})
	noAuth := startServer(t, &testServer{User: "u", Pass: "right"})
	replying := startServer(t, &testServer{Reply: ReplyConnectionRefused})
	bad := proxyAt(refusing)
	bad.Password = "s3cr3t-password"
	none := proxyAt(noAuth)
	none.Auth = AuthNone
	dead := deadPort(t)
	d := &Dialer{Logger: quiet, Proxies: []Proxy{{Host: "127.0.0.1", Port: dead}, bad, none, proxyAt(replying)}}
	_, err := d.DialContext(context.Background(), "tcp", "192.0.2.1:25")
	if err == nil {
		t.Fatal("dial succeeded")
	}
	msg := err.Error()
	if strings.Contains(msg, "s3cr3t") {
		t.Fatalf("password in %q", msg)
	}
	for _, want := range []string{"192.0.2.1:25", refusing.Addr + ": auth: username/password refused",
		noAuth.Addr + ": method: no acceptable authentication method", replying.Addr + ": request: connection refused (reply 5)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if !errors.Is(err, syscall.ECONNREFUSED) || !errors.Is(err, ErrAuthRefused) || !errors.Is(err, ErrNoAcceptableMethod) {
		t.Fatalf("causes not wrapped: %v", err)
	}
	var rep Reply
	if !errors.As(err, &rep) || rep != ReplyConnectionRefused {
		t.Fatalf("reply %v", rep)
	}
	var pe *Error
	if !errors.As(err, &pe) || pe.Step != "connect" {
		t.Fatalf("first error %+v", pe)
	}
}

// A proxy that never answers is given up after its tmo, and the next one
// is tried; the caller's context bounds everything.
func TestTimeouts(t *testing.T) {
	stall := startServer(t, &testServer{Stall: true})
	good := startServer(t, &testServer{})
	mx := smtptest.Start(t, &smtptest.Sink{})
	slow := proxyAt(stall)
	slow.Timeout = 200 * time.Millisecond
	d := &Dialer{Logger: quiet, Proxies: []Proxy{slow, proxyAt(good)}}
	start := time.Now()
	nc, err := d.DialContext(context.Background(), "tcp", mx.Addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	if d := time.Since(start); d < 200*time.Millisecond || d > 3*time.Second {
		t.Fatalf("took %v", d)
	}

	d = &Dialer{Logger: quiet, Proxies: []Proxy{proxyAt(stall), proxyAt(stall)}}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = d.DialContext(ctx, "tcp", mx.Addr)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
}

// Targets by name and by IPv6 address use the matching address types
// (RFC 1928 section 5).
func TestAddressTypes(t *testing.T) {
	srv := startServer(t, &testServer{Reply: ReplyHostUnreachable})
	d := &Dialer{Logger: quiet, Proxies: []Proxy{proxyAt(srv)}}
	for _, addr := range []string{"mx.example:25", "[2001:db8::1]:25", "[::ffff:192.0.2.1]:25"} {
		if _, err := d.DialContext(context.Background(), "tcp", addr); !errors.Is(err, ReplyHostUnreachable) {
			t.Fatalf("%s: %v", addr, err)
		}
	}
	want := []string{"mx.example:25", "[2001:db8::1]:25", "192.0.2.1:25"}
	if got := srv.Targets(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("targets %v", got)
	}
	for _, bad := range []string{strings.Repeat("a", 256) + ":25", "x.example:0", "x.example"} {
		if _, err := d.DialContext(context.Background(), "tcp", bad); err == nil {
			t.Fatalf("%.20s accepted", bad)
		}
	}
	if _, err := d.DialContext(context.Background(), "udp", "192.0.2.1:53"); err == nil {
		t.Fatal("udp accepted")
	}
	if _, err := (&Dialer{}).Dial("tcp", "192.0.2.1:25"); !errors.Is(err, ErrNoProxies) {
		t.Fatalf("no proxies: %v", err)
	}
}

func TestOrder(t *testing.T) {
	ps := []Proxy{{Host: "a"}, {Host: "b", Priority: 2}, {Host: "c"}, {Host: "d", Priority: 2}, {Host: "e", Priority: -1}}
	d := &Dialer{Proxies: ps}
	got := hosts(d.order())
	if got != "b d a c e" {
		t.Fatalf("order %s", got)
	}
	// Weighted: drawing the last ticket each time picks the last proxy
	// of the remaining ones (the draw walks them in order).
	d = &Dialer{Proxies: []Proxy{{Host: "a", Weight: 1}, {Host: "b", Weight: 3}, {Host: "c"}}}
	d.rand = func(n int) int { return n - 1 }
	if got := hosts(d.order()); got != "c a b" {
		t.Fatalf("weighted order %s", got)
	}
	// Over many draws, b (weight 3 of 5) comes first about 60% of the
	// time.
	d.rand = nil
	first := 0
	for range 2000 {
		if d.order()[0].Host == "b" {
			first++
		}
	}
	if first < 1000 || first > 1400 {
		t.Fatalf("b first %d times of 2000", first)
	}
}

func hosts(ps []Proxy) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Host)
	}
	return strings.Join(s, " ")
}

// rawProxy answers every connection on a loopback port with answer,
// whatever the client says, and then reads until the client leaves.
func rawProxy(t *testing.T, answer []byte) Proxy {
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
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				c.Write(answer)
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return Proxy{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, Auth: AuthName, Username: "u", Password: "p"}
}

// Answers a proxy may not give: a RFC 1929 status whose VER is not
// X'01', and a reply whose BND.ADDR of type DOMAINNAME is empty or no
// domain name (RFC 1928 section 5: "a fully-qualified domain name"),
// which BoundAddr could not report as "host:port". Each is a protocol
// violation, not a connection.
func TestMalformedAnswers(t *testing.T) {
	for name, answer := range map[string][]byte{
		"status version 5":  {5, 2, 5, 0, 5, 0, 0, 1, 127, 0, 0, 1, 0, 25},
		"empty BND.ADDR":    {5, 2, 1, 0, 5, 0, 0, 3, 0, 0, 25},
		"BND.ADDR brackets": {5, 2, 1, 0, 5, 0, 0, 3, 3, '[', ':', ']', 0, 25},
		"BND.ADDR CRLF":     {5, 2, 1, 0, 5, 0, 0, 3, 4, 'a', '\r', '\n', 'b', 0, 25},
	} {
		t.Run(name, func(t *testing.T) {
			d := &Dialer{Proxies: []Proxy{rawProxy(t, answer)}, Logger: quiet}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := d.DialContext(ctx, "tcp", "192.0.2.25:25")
			if err == nil {
				c.Close()
				t.Fatalf("connected, bound %q", c.(*Conn).BoundAddr())
			}
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("err %v, want ErrProtocol", err)
			}
		})
	}
	// A host name as BND.ADDR is reported as it was sent.
	d := &Dialer{Proxies: []Proxy{rawProxy(t, []byte{5, 2, 1, 0, 5, 0, 0, 3, 8, 'p', 'r', 'o', 'x', 'y', '.', '_', 'x', 0x04, 0x38})}, Logger: quiet}
	c, err := d.DialContext(context.Background(), "tcp", "192.0.2.25:25")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.(*Conn).BoundAddr(); got != "proxy._x:1080" {
		t.Errorf("bound %q", got)
	}
}
