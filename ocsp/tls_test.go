package ocsp

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// tlsSession runs a TLS handshake on loopback between a server with cfg
// and a client with ccfg, and returns the client's error and state.
func tlsSession(t testing.TB, srv, cli *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		s := tls.Server(c, srv)
		if s.HandshakeContext(ctx) == nil {
			// TLS 1.3 session tickets go out with the first write.
			_, _ = s.Write([]byte("x"))
		}
		s.Close()
	}()
	c, err := tls.Dial("tcp", l.Addr().String(), cli)
	if err != nil {
		<-done
		return tls.ConnectionState{}, err
	}
	buf := make([]byte, 1)
	_, _ = c.Read(buf)
	st := c.ConnectionState()
	c.Close()
	<-done
	return st, nil
}
