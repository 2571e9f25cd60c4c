package dane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/pkitest"
)

// rec makes a TLSA record for c or fails the test.
func rec(t testing.TB, c *x509.Certificate, usage, selector, mt uint8) Record {
	t.Helper()
	r, err := NewRecord(c, usage, selector, mt)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// serverCert returns the tls.Certificate a server sends: c's chain
// (without the root), or only the first n certificates of it when n > 0,
// plus extra certificates appended (a root sent by the server).
func serverCert(c *pkitest.Cert, n int, extra ...*x509.Certificate) tls.Certificate {
	tc := c.TLS()
	if n > 0 && n < len(tc.Certificate) {
		tc.Certificate = tc.Certificate[:n]
	}
	for _, e := range extra {
		tc.Certificate = append(tc.Certificate, e.Raw)
	}
	return tc
}

// handshake runs a TLS handshake over a pipe between a server with cert
// and a client with cfg, and returns the client's error and the SNI the
// server saw.
func handshake(t testing.TB, cert tls.Certificate, cfg *tls.Config) (string, error) {
	t.Helper()
	a, b := tcpPair(t)
	defer a.Close()
	defer b.Close()
	sni := make(chan string, 1)
	srv := tls.Server(a, &tls.Config{
		GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
			sni <- h.ServerName
			return &cert, nil
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { _ = srv.HandshakeContext(ctx); srv.Close() }()
	cli := tls.Client(b, cfg)
	err := cli.HandshakeContext(ctx)
	cli.Close()
	select {
	case s := <-sni:
		return s, err
	default:
		return "", err
	}
}

// tcpPair returns both ends of a loopback TCP connection (net.Pipe has no
// buffer, so an alert written by one side can block).
func tcpPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		ch <- c
	}()
	b, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := <-ch
	if a == nil {
		t.Fatal("accept failed")
	}
	return a, b
}
