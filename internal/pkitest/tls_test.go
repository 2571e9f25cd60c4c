package pkitest

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"
)

// TestTLSHandshake runs a mutually authenticated handshake on loopback with
// certificates of two hierarchies: an RSA server certificate below an
// intermediate, and an ECDSA client certificate.
func TestTLSHandshake(t *testing.T) {
	serverCA := NewCA(t, ECDSA)
	in := serverCA.NewIntermediate(t, RSA)
	server := in.Issue(t, Leaf{Names: []string{"mx.example.test"}, Key: RSA})
	clientCA := NewCA(t, ECDSA)
	client := clientCA.Issue(t, Leaf{Names: []string{"client.example.test"}})

	srvCert := server.TLS()
	if len(srvCert.Certificate) != 2 || srvCert.Leaf != server.Certificate {
		t.Fatalf("TLS() has %d certificates, want leaf and intermediate with Leaf set", len(srvCert.Certificate))
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{srvCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCA.Pool(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	done := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if err := conn.(*tls.Conn).Handshake(); err != nil {
			done <- err
			return
		}
		_, err = conn.Write([]byte("220 ok\r\n"))
		done <- err
	}()

	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), &tls.Config{
		RootCAs:      serverCA.Pool(),
		ServerName:   "mx.example.test",
		Certificates: []tls.Certificate{client.TLS()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := io.ReadAll(io.LimitReader(conn, 8))
	if err != nil || string(line) != "220 ok\r\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("server: %v", err)
	}
	if chains := conn.ConnectionState().VerifiedChains; len(chains) != 1 || len(chains[0]) != 3 {
		t.Errorf("verified chains %v, want one of 3 certificates", chains)
	}
}
