package ocsp

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/pkitest"
)

// FuzzCheck feeds untrusted OCSP responses (a server's staple, a
// responder's answer, a staple file) through the whole check, as a client
// and a stapler run it.
func FuzzCheck(f *testing.F) {
	ca := pkitest.NewCA(f, pkitest.ECDSA)
	leaf := ca.Issue(f, pkitest.Leaf{Names: []string{"mx.example.test"}})
	signer := ca.NewOCSPSigner(f, pkitest.Leaf{})
	f.Add(ca.OCSP(f, leaf, pkitest.OCSPOptions{}))
	f.Add(ca.OCSP(f, leaf, pkitest.OCSPOptions{Signer: signer}))
	f.Add(ca.OCSP(f, leaf, pkitest.OCSPOptions{Status: Revoked}))
	f.Add([]byte{0x30, 0x03, 0x0A, 0x01, 0x01})
	now := time.Now()
	f.Fuzz(func(t *testing.T, der []byte) {
		resp, err := Check(der, leaf.Certificate, ca.Certificate, now)
		if err == nil && (resp == nil || resp.Status != Good) {
			t.Fatal("nil error without a good response")
		}
		_, _ = Verify(tls.ConnectionState{OCSPResponse: der, PeerCertificates: []*x509.Certificate{leaf.Certificate, ca.Certificate}}, Request, now)
		_ = checkCertID(der, leaf.Certificate.SerialNumber, ca.Certificate)
	})
}
