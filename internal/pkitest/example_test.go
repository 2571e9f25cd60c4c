package pkitest_test

import (
	"crypto/x509"
	"fmt"

	"golang.org/x/crypto/ocsp"

	"github.com/smtpkit/smtpkit/internal/pkitest"
)

// A root, an intermediate, a leaf below it, and an OCSP response saying the
// leaf was revoked. Outside a test, a nil testing.TB makes errors panic.
func Example() {
	ca := pkitest.NewCA(nil, pkitest.ECDSA)
	in := ca.NewIntermediate(nil, pkitest.ECDSA)
	leaf := in.Issue(nil, pkitest.Leaf{Names: []string{"mx.example.test"}})

	chains, err := leaf.Certificate.Verify(x509.VerifyOptions{
		DNSName:       "mx.example.test",
		Roots:         ca.Pool(),
		Intermediates: leaf.Intermediates(),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("verified chain of", len(chains[0]), "certificates")

	der := in.OCSP(nil, leaf, pkitest.OCSPOptions{Status: ocsp.Revoked, RevocationReason: ocsp.KeyCompromise})
	resp, err := ocsp.ParseResponseForCert(der, leaf.Certificate, in.Certificate)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("revoked:", resp.Status == ocsp.Revoked, "reason:", resp.RevocationReason)
	// Output:
	// verified chain of 3 certificates
	// revoked: true reason: 1
}
