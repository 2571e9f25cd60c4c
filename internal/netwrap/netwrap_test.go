package netwrap

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"
)

type wrapper struct {
	net.Conn
	name string
}

func (w *wrapper) NetConn() net.Conn { return w.Conn }

type loop struct{ net.Conn }

func (l *loop) NetConn() net.Conn { return l }

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test"},
		DNSNames:     []string{"test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestFindAndTLSState(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()

	inner := &wrapper{Conn: a, name: "inner"}
	if _, ok := TLSState(inner); ok {
		t.Fatal("plain conn reported TLS")
	}
	if w, ok := Find[*wrapper](inner); !ok || w.name != "inner" {
		t.Fatal("Find did not return the conn itself")
	}

	srv := tls.Server(inner, &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}})
	cli := tls.Client(b, &tls.Config{InsecureSkipVerify: true})
	outer := &wrapper{Conn: srv, name: "outer"}

	if _, ok := TLSState(outer); ok {
		t.Fatal("TLS state reported before the handshake")
	}
	errc := make(chan error, 1)
	go func() { errc <- cli.Handshake() }()
	if err := srv.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	st, ok := TLSState(outer)
	if !ok || st.Version == 0 {
		t.Fatalf("TLS state not found through wrapper: %+v", st)
	}
	// The first *wrapper in the chain is the outer one; the inner one is
	// below the TLS layer and still reachable.
	if w, _ := Find[*wrapper](outer); w.name != "outer" {
		t.Fatalf("Find returned %q", w.name)
	}
	if w, _ := Find[*wrapper](outer.Conn.(*tls.Conn).NetConn()); w.name != "inner" {
		t.Fatalf("Find below TLS returned %q", w.name)
	}
	if _, ok := Find[*net.TCPConn](outer); ok {
		t.Fatal("found a type that is not in the chain")
	}
}

func TestFindStopsOnLoop(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, ok := Find[*net.TCPConn](&loop{a}); ok {
		t.Fatal("unexpected")
	}
	if _, ok := Find[*wrapper](nil); ok {
		t.Fatal("nil conn")
	}
}
