package proxyproto

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// recorder is a Sink that also records the PROXY information of each
// session, as a backend would log it.
type recorder struct {
	smtptest.Sink
	mu    sync.Mutex
	infos []Info
}

func (r *recorder) NewSession(c *smtp.Conn) (smtp.Session, error) {
	info, ok := FromConn(c.Conn())
	if !ok {
		return nil, errors.New("no proxyproto.Conn below the session")
	}
	r.mu.Lock()
	r.infos = append(r.infos, info)
	r.mu.Unlock()
	return r.Sink.NewSession(c)
}

func (r *recorder) Infos() []Info {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Info(nil), r.infos...)
}

// dialRaw opens a TCP connection and sends header first.
func dialRaw(t *testing.T, addr string, header []byte) *smtptest.Client {
	t.Helper()
	c := smtptest.Dial(t, addr)
	if header != nil {
		c.Write(string(header))
	}
	return c
}

func transaction(t *testing.T, c *smtptest.Client) {
	t.Helper()
	c.Expect(220)
	c.MustCmd("EHLO client.example", 250)
	c.MustCmd("MAIL FROM:<a@x.test>", 250)
	c.MustCmd("RCPT TO:<b@y.test>", 250)
	c.MustCmd("DATA", 354)
	c.Write("Subject: t\r\n\r\nhi\r\n.\r\n")
	c.Expect(250)
	c.MustCmd("QUIT", 221)
}

func TestProxiedSession(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header []byte
		client netip.AddrPort
		target netip.AddrPort
	}{
		{"v1 TCP4", []byte("PROXY TCP4 192.0.2.10 198.51.100.1 41234 25\r\n"), client4, target4},
		{"v1 TCP6", []byte("PROXY TCP6 2001:db8::10 2001:db8::1 41234 587\r\n"), client6, target6},
		{"v2 TCP4", v2(1, 0x11, client4, target4), client4, target4},
		{"v2 TCP6 with TLVs", v2(1, 0x21, client6, target6, TLV{TypeAuthority, []byte("mx.example")}), client6, target6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			addr := serve(t, loopbackOnly(5*time.Second), rec, nil)
			c := dialRaw(t, addr, tc.header)
			transaction(t, c)
			msgs := rec.Messages()
			if len(msgs) != 1 || msgs[0].RemoteAddr.String() != tc.client.String() {
				t.Fatalf("messages %+v", msgs)
			}
			info := rec.Infos()[0]
			local := c.Conn().LocalAddr().(*net.TCPAddr).AddrPort()
			if !info.Required || !info.Proxied || info.Local || info.ClientAddr != tc.client || info.TargetAddr != tc.target ||
				info.ProxyAddr != local || info.Err != nil {
				t.Fatalf("info %+v (proxy should be %v)", info, local)
			}
		})
	}
}

// A v1 header that arrives in pieces is waited for (spec section 2.1
// recommends tolerance).
func TestV1HeaderInPieces(t *testing.T) {
	rec := &recorder{}
	addr := serve(t, loopbackOnly(5*time.Second), rec, nil)
	c := dialRaw(t, addr, []byte("PROXY TCP4 192.0.2.10 "))
	time.Sleep(50 * time.Millisecond)
	c.Write("198.51.100.1 41234 25\r\n")
	transaction(t, c)
	if got := rec.Messages()[0].RemoteAddr.String(); got != client4.String() {
		t.Fatalf("remote %s", got)
	}
}

// A header from a host outside the list is data, never believed: the
// SMTP server refuses it as a command and sees the real address.
func TestHeaderFromOtherHostNotBelieved(t *testing.T) {
	rec := &recorder{}
	hosts, _ := ParseHosts("10.0.0.0/8, 2001:db8::/32")
	addr := serve(t, &Options{RequiredHosts: hosts}, rec, nil)
	c := dialRaw(t, addr, nil)
	c.Expect(220)
	if rep := c.Cmd("PROXY TCP4 192.0.2.10 198.51.100.1 41234 25"); rep.Code/100 != 5 {
		t.Fatalf("PROXY line: %v", rep)
	}
	c.MustCmd("EHLO client.example", 250)
	c.MustCmd("MAIL FROM:<a@x.test>", 250)
	c.MustCmd("QUIT", 221)
	info := rec.Infos()[0]
	if info.Required || info.Proxied || info.ClientAddr.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("info %+v", info)
	}
}

// Exim's behaviour for a required host without a header: the banner after
// the timeout, then 503 to every command but QUIT.
func TestRequiredHostWithoutHeader(t *testing.T) {
	rec := &recorder{}
	const timeout = 300 * time.Millisecond
	addr := serve(t, loopbackOnly(timeout), rec, nil, func(s *smtp.Server) {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	})
	start := time.Now()
	c := dialRaw(t, addr, nil)
	c.Expect(220)
	if d := time.Since(start); d < timeout {
		t.Fatalf("banner after %v, before the header timeout", d)
	}
	want := "503 5.7.0 Command refused, required Proxy negotiation failed"
	for _, cmd := range []string{"EHLO client.example", "HELO client.example", "MAIL FROM:<a@x.test>",
		"RCPT TO:<b@y.test>", "DATA", "STARTTLS", "AUTH PLAIN AGFAYg==", "NOOP", "RSET", strings.Repeat("X", 2000)} {
		if rep := c.Cmd(cmd); rep.String() != want {
			t.Fatalf("%.20s: %v", cmd, rep)
		}
	}
	c.MustCmd("QUIT", 221)
	if len(rec.Infos()) != 0 || len(rec.Messages()) != 0 {
		t.Fatal("a session reached the backend")
	}
}

func TestRefusedCommandsLimit(t *testing.T) {
	addr := serve(t, loopbackOnly(100*time.Millisecond), &recorder{}, nil)
	c := dialRaw(t, addr, []byte("garbage that is no header\r\n"))
	c.Expect(220)
	c.Expect(503) // the garbage line is the first command
	for range maxRefused - 1 {
		c.Write("NOOP\r\n")
	}
	for range maxRefused - 1 {
		c.Expect(503)
	}
	c.Write("NOOP\r\n")
	c.Expect(421)
	if rep := c.ReadReply(); rep.Err == nil {
		t.Fatalf("still open: %v", rep)
	}
}

// An invalid header is a failed negotiation too, and the bytes of it that
// were read do not become commands.
func TestInvalidHeader(t *testing.T) {
	addr := serve(t, loopbackOnly(5*time.Second), &recorder{}, nil)
	c := dialRaw(t, addr, []byte("PROXY TCP4 192.0.2.300 198.51.100.1 1 2\r\nEHLO x\r\n"))
	start := time.Now()
	c.Expect(220)
	if time.Since(start) > time.Second {
		t.Fatal("an invalid header waited for the timeout")
	}
	c.MustCmd("EHLO client.example", 503)
	c.MustCmd("QUIT", 221)
}

// v2 LOCAL (a health check of the proxy): accepted, real addresses kept.
func TestLocalCommand(t *testing.T) {
	rec := &recorder{}
	addr := serve(t, loopbackOnly(5*time.Second), rec, nil)
	c := dialRaw(t, addr, v2(0, 0x00, netip.AddrPort{}, netip.AddrPort{}))
	transaction(t, c)
	info := rec.Infos()[0]
	local := c.Conn().LocalAddr().(*net.TCPAddr).AddrPort()
	if !info.Proxied || !info.Local || info.ClientAddr != local || rec.Messages()[0].RemoteAddr.String() != local.String() {
		t.Fatalf("info %+v", info)
	}
}

// v2 LOCAL whose block is no address and no TLVs, and whose family byte
// is undefined (spec section 2.2: the receiver discards the block
// "including the family which is ignored"): accepted, real addresses
// kept, and the bytes of the block never reach the SMTP server.
func TestLocalCommandOpaqueBlock(t *testing.T) {
	rec := &recorder{}
	addr := serve(t, loopbackOnly(5*time.Second), rec, nil)
	block := []byte("QUIT\r\nRSET\r\n\xff")
	hdr := append(append([]byte(nil), v2sig...), 0x20, 0xff, 0, byte(len(block)))
	c := dialRaw(t, addr, append(hdr, block...))
	transaction(t, c)
	info := rec.Infos()[0]
	local := c.Conn().LocalAddr().(*net.TCPAddr).AddrPort()
	if !info.Proxied || !info.Local || info.Failed() || info.ClientAddr != local || len(info.TLVs) != 0 {
		t.Fatalf("info %+v", info)
	}
}

// Implicit TLS (port 465) behind a proxy: the header comes before the TLS
// handshake, and go-smtp still sees a *tls.Conn.
func TestImplicitTLS(t *testing.T) {
	rec := &recorder{}
	cfg := &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	var sawTLS bool
	var mu sync.Mutex
	be := smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, ok := c.TLSConnectionState()
		mu.Lock()
		sawTLS = ok
		mu.Unlock()
		return rec.NewSession(c)
	})
	addr := serve(t, loopbackOnly(5*time.Second), be, func(l net.Listener) net.Listener { return tls.NewListener(l, cfg) })

	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.Write(v2(1, 0x11, client4, target4))
	tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(tc)
	expect := func(prefix string) {
		t.Helper()
		for {
			line, err := r.ReadString('\n')
			if err != nil || !strings.HasPrefix(line, prefix[:3]) {
				t.Fatalf("want %s, got %q %v", prefix, line, err)
			}
			if line[3] == ' ' {
				return
			}
		}
	}
	expect("220")
	tc.Write([]byte("EHLO client.example\r\n"))
	expect("250")
	tc.Write([]byte("QUIT\r\n"))
	expect("221")
	mu.Lock()
	defer mu.Unlock()
	if !sawTLS || rec.Infos()[0].ClientAddr != client4 {
		t.Fatalf("TLS %v, infos %+v", sawTLS, rec.Infos())
	}
}

// Under TLS on connect the Conn cannot read SMTP lines: NewBackend
// refuses the session instead.
func TestImplicitTLSWithoutHeader(t *testing.T) {
	cfg := &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	rec := &recorder{}
	addr := serve(t, loopbackOnly(200*time.Millisecond), rec, func(l net.Listener) net.Listener { return tls.NewListener(l, cfg) })
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(tc)
	read := func() string { l, _ := r.ReadString('\n'); return strings.TrimSpace(l) }
	if l := read(); !strings.HasPrefix(l, "220 ") {
		t.Fatal(l)
	}
	tc.Write([]byte("EHLO client.example\r\n"))
	if l := read(); l != "503 5.7.0 Command refused, required Proxy negotiation failed" {
		t.Fatal(l)
	}
	tc.Write([]byte("MAIL FROM:<a@x.test>\r\n"))
	if l := read(); !strings.HasPrefix(l, "5") {
		t.Fatal(l)
	}
	if len(rec.Infos()) != 0 {
		t.Fatal("session created")
	}
}

// The slowloris test: a proxy that sends one header byte per second is cut
// at the timeout, while the listener goes on serving others meanwhile.
func TestSlowlorisDoesNotBlockAccept(t *testing.T) {
	const timeout = 1500 * time.Millisecond
	rec := &recorder{}
	addr := serve(t, loopbackOnly(timeout), rec, nil)

	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	start := time.Now()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		hdr := v2(1, 0x11, client4, target4)
		for _, b := range hdr {
			if _, err := slow.Write([]byte{b}); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
		}
	}()
	banner := make(chan time.Duration, 1)
	go func() {
		slow.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, _ := bufio.NewReader(slow).ReadString('\n')
		if strings.HasPrefix(line, "220 ") {
			banner <- time.Since(start)
		}
		close(banner)
	}()

	// Others are served while the slow header is under way.
	for i := range 3 {
		c := dialRaw(t, addr, []byte("PROXY TCP4 192.0.2.10 198.51.100.1 41234 25\r\n"))
		transaction(t, c)
		c.Close()
		if d := time.Since(start); d >= timeout {
			t.Fatalf("connection %d served only after %v", i, d)
		}
	}
	d, ok := <-banner
	if !ok {
		t.Fatal("no banner for the slow connection")
	}
	if d < timeout-100*time.Millisecond || d > timeout+time.Second {
		t.Fatalf("slow connection cut after %v, want about %v", d, timeout)
	}
	if len(rec.Messages()) != 3 {
		t.Fatalf("%d messages", len(rec.Messages()))
	}
}

func TestTimeoutError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ln := NewListener(l, loopbackOnly(100*time.Millisecond))
	cli, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc := c.(*Conn)
	if err := pc.Handshake(context.Background()); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	if info := pc.Info(); !info.Failed() || info.Proxied || c.RemoteAddr().String() != cli.LocalAddr().String() {
		t.Fatalf("info %+v remote %v", info, c.RemoteAddr())
	}
	if pc.NetConn().RemoteAddr().String() != cli.LocalAddr().String() {
		t.Fatal("NetConn is not the raw connection")
	}
}

func TestHandshakeContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ln := NewListener(l, loopbackOnly(time.Minute))
	cli, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	c, _ := ln.Accept()
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	if err := c.(*Conn).Handshake(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("cancel did not interrupt the header read")
	}
}

// A deadline set before the header is read (go-smtp sets its ReadTimeout
// first) applies after it.
func TestUserDeadlineKept(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ln := NewListener(l, loopbackOnly(5*time.Second))
	cli, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	cli.Write([]byte("PROXY UNKNOWN\r\n"))
	c, _ := ln.Accept()
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	start := time.Now()
	_, err = c.Read(make([]byte, 10))
	if !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) > 3*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
}

func TestIPv6RequiredByCallback(t *testing.T) {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatalf("IPv6 loopback: %v", err)
	}
	defer l.Close()
	var asked netip.Addr
	ln := NewListener(l, &Options{IsRequired: func(a netip.Addr) bool { asked = a; return a.IsLoopback() }})
	cli, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	cli.Write(v2(1, 0x21, client6, target6))
	c, _ := ln.Accept()
	defer c.Close()
	if c.RemoteAddr().String() != client6.String() || c.LocalAddr().String() != target6.String() || asked != netip.MustParseAddr("::1") {
		t.Fatalf("remote %v local %v asked %v", c.RemoteAddr(), c.LocalAddr(), asked)
	}
}

func selfSigned(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mx.test"},
		DNSNames:     []string{"mx.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
