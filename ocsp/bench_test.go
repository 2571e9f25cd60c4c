package ocsp

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/pkitest"
)

func BenchmarkVerify(b *testing.B) {
	ca := pkitest.NewCA(b, pkitest.ECDSA)
	leaf := ca.Issue(b, pkitest.Leaf{Names: []string{"mx.example.test"}})
	cs := tls.ConnectionState{
		OCSPResponse:     ca.OCSP(b, leaf, pkitest.OCSPOptions{}),
		PeerCertificates: []*x509.Certificate{leaf.Certificate, ca.Certificate},
	}
	now := time.Now()
	for b.Loop() {
		if _, err := Verify(cs, Require, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStaple is the per-handshake cost of a Stapler: a stat and a
// time check.
func BenchmarkStaple(b *testing.B) {
	ca := pkitest.NewCA(b, pkitest.ECDSA)
	leaf := ca.Issue(b, pkitest.Leaf{Names: []string{"mx.example.test"}})
	cert := leaf.TLS()
	file := filepath.Join(b.TempDir(), "staple.der")
	if err := writeAtomic(file, ca.OCSP(b, leaf, pkitest.OCSPOptions{})); err != nil {
		b.Fatal(err)
	}
	s := NewStapler(nil)
	if err := s.Add(&cert, ca.Certificate, file); err != nil {
		b.Fatal(err)
	}
	hello := &tls.ClientHelloInfo{}
	for b.Loop() {
		c, err := s.GetCertificate(hello)
		if err != nil || c.OCSPStaple == nil {
			b.Fatal("no staple", err)
		}
	}
}
