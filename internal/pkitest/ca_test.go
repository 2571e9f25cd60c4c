package pkitest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

func verify(t *testing.T, c *Cert, name string) ([][]*x509.Certificate, error) {
	t.Helper()
	return c.Certificate.Verify(x509.VerifyOptions{
		DNSName:       name,
		Roots:         c.Pool(),
		Intermediates: c.Intermediates(),
	})
}

func TestChainVerifies(t *testing.T) {
	for _, key := range []KeyType{ECDSA, RSA} {
		t.Run(key.String(), func(t *testing.T) {
			ca := NewCA(t, key)
			in1 := ca.NewIntermediate(t, key)
			in2 := in1.NewIntermediate(t, key)
			leaf := in2.Issue(t, Leaf{Names: []string{"mx.example.test"}, Key: key})

			chains, err := verify(t, leaf, "mx.example.test")
			if err != nil {
				t.Fatal(err)
			}
			want := []*x509.Certificate{leaf.Certificate, in2.Certificate, in1.Certificate, ca.Certificate}
			if got := chains[0]; len(got) != len(want) {
				t.Fatalf("chain length %d, want %d", len(got), len(want))
			}
			for i, c := range chains[0] {
				if !c.Equal(want[i]) {
					t.Errorf("chain[%d] = %q, want %q", i, c.Subject.CommonName, want[i].Subject.CommonName)
				}
			}
			if got := leaf.Chain(); len(got) != 3 || !got[2].Equal(in1.Certificate) {
				t.Errorf("Chain() has %d certificates, want leaf, in2, in1", len(got))
			}
			if !leaf.Root().Certificate.Equal(ca.Certificate) {
				t.Error("Root() is not the root CA")
			}
			if _, err := verify(t, leaf, "other.example.test"); err == nil {
				t.Error("verified for a name not in the certificate")
			}
			if _, isRSA := leaf.Key.(*rsa.PrivateKey); isRSA != (key != ECDSA) {
				t.Errorf("leaf key is %T, want %v", leaf.Key, key)
			}
		})
	}
}

func TestUntrustedRootFails(t *testing.T) {
	leaf := NewCA(t, ECDSA).Issue(t, Leaf{Names: []string{"mx.example.test"}})
	other := NewCA(t, ECDSA)
	_, err := leaf.Certificate.Verify(x509.VerifyOptions{DNSName: "mx.example.test", Roots: other.Pool()})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("err = %v, want x509.UnknownAuthorityError", err)
	}
}

func TestValidity(t *testing.T) {
	ca := NewCA(t, ECDSA)
	for _, tc := range []struct {
		name   string
		leaf   Leaf
		detail string // in the x509.CertificateInvalidError, "" = valid
	}{
		{"default", Leaf{}, ""},
		{"expired", Leaf{Expired: true}, "is after"},
		{"not yet valid", Leaf{NotYetValid: true}, "is before"},
		{"custom past", Leaf{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Minute)}, "is after"},
		{"custom", Leaf{NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.leaf.Names = []string{"mx.example.test"}
			leaf := ca.Issue(t, tc.leaf)
			_, err := verify(t, leaf, "mx.example.test")
			if tc.detail == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var invalid x509.CertificateInvalidError
			if !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
				t.Fatalf("err = %v, want x509.CertificateInvalidError with reason Expired", err)
			}
			if !strings.Contains(invalid.Detail, tc.detail) {
				t.Errorf("detail %q does not say %q", invalid.Detail, tc.detail)
			}
		})
	}
	if l := ca.Issue(t, Leaf{}).Certificate; l.NotAfter.Sub(l.NotBefore) < 30*24*time.Hour {
		t.Errorf("default validity %v, want months", l.NotAfter.Sub(l.NotBefore))
	}
}

func TestNames(t *testing.T) {
	ca := NewCA(t, ECDSA)
	leaf := ca.Issue(t, Leaf{Names: []string{"*.example.test", "mx.example.net", "127.0.0.1", "::1"}})
	c := leaf.Certificate
	if c.Subject.CommonName != "*.example.test" {
		t.Errorf("CN = %q, want the first name", c.Subject.CommonName)
	}
	if len(c.DNSNames) != 2 || len(c.IPAddresses) != 2 {
		t.Fatalf("DNS %q, IP %v", c.DNSNames, c.IPAddresses)
	}
	if !c.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !c.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("IP SANs = %v", c.IPAddresses)
	}
	for _, name := range []string{"a.example.test", "mx.example.net", "127.0.0.1", "::1"} {
		if _, err := verify(t, leaf, name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// RFC 6125 section 6.4.3: the wildcard covers one label only.
	for _, name := range []string{"example.test", "a.b.example.test"} {
		if _, err := verify(t, leaf, name); err == nil {
			t.Errorf("%s verified", name)
		}
	}
}

// oidSubjectAltName is id-ce-subjectAltName (RFC 5280 section 4.2.1.6).
var oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

func TestCommonNameOnly(t *testing.T) {
	ca := NewCA(t, ECDSA)
	for _, cn := range []string{"mx.example.test", ""} {
		c := ca.Issue(t, Leaf{CommonName: cn}).Certificate
		if c.Subject.CommonName != cn {
			t.Errorf("CN = %q, want %q", c.Subject.CommonName, cn)
		}
		for _, ext := range c.Extensions {
			if ext.Id.Equal(oidSubjectAltName) {
				t.Errorf("CN %q: certificate has a subjectAltName extension", cn)
			}
		}
		if len(c.DNSNames)+len(c.IPAddresses)+len(c.EmailAddresses)+len(c.URIs) != 0 {
			t.Errorf("CN %q: certificate has SANs", cn)
		}
	}
}

func TestExtKeyUsage(t *testing.T) {
	ca := NewCA(t, ECDSA)
	def := ca.Issue(t, Leaf{}).Certificate.ExtKeyUsage
	if len(def) != 2 || def[0] != x509.ExtKeyUsageServerAuth || def[1] != x509.ExtKeyUsageClientAuth {
		t.Errorf("default EKU %v, want serverAuth, clientAuth", def)
	}
	client := ca.Issue(t, Leaf{Names: []string{"c.example.test"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if _, err := verify(t, client, "c.example.test"); err == nil {
		t.Error("client-only certificate verified for serverAuth")
	}
	_, err := client.Certificate.Verify(x509.VerifyOptions{
		Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		t.Errorf("client-only certificate for clientAuth: %v", err)
	}
}

func TestMustStapleAndAIA(t *testing.T) {
	ca := NewCA(t, ECDSA)
	leaf := ca.Issue(t, Leaf{MustStaple: true, OCSPURL: "http://127.0.0.1:9/"})
	var found bool
	for _, ext := range leaf.Certificate.Extensions {
		if ext.Id.Equal(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}) {
			found = true
			// SEQUENCE { INTEGER 5 }: status_request.
			if want := []byte{0x30, 0x03, 0x02, 0x01, 0x05}; !bytes.Equal(ext.Value, want) {
				t.Errorf("TLS feature value % x, want % x", ext.Value, want)
			}
			if ext.Critical {
				t.Error("TLS feature extension is critical")
			}
		}
	}
	if !found {
		t.Error("no TLS feature extension")
	}
	if got := leaf.Certificate.OCSPServer; len(got) != 1 || got[0] != "http://127.0.0.1:9/" {
		t.Errorf("OCSPServer = %q", got)
	}
	plain := ca.Issue(t, Leaf{}).Certificate
	if len(plain.OCSPServer) != 0 || len(plain.Extensions) != len(leaf.Certificate.Extensions)-2 {
		t.Error("extensions without MustStaple/OCSPURL differ by other than two")
	}
}

func TestSelfSigned(t *testing.T) {
	c := SelfSigned(t, Leaf{Names: []string{"mx.example.test"}, Key: RSA})
	if c.Issuer != nil || c.Certificate.IsCA {
		t.Fatal("self-signed leaf has an issuer or is a CA")
	}
	if _, err := verify(t, c, "mx.example.test"); err != nil {
		t.Fatal(err)
	}
	if len(c.Chain()) != 1 || c.Root() != c {
		t.Error("self-signed chain is not the certificate alone")
	}
}

func TestKeys(t *testing.T) {
	ca := NewCA(t, RSA)
	weak := ca.Issue(t, Leaf{Key: RSABits(1024)})
	if n := weak.Key.(*rsa.PrivateKey).N.BitLen(); n != 1024 {
		t.Errorf("RSABits(1024) key has %d bits", n)
	}
	if n := ca.Key.(*rsa.PrivateKey).N.BitLen(); n != 2048 {
		t.Errorf("RSA key has %d bits", n)
	}
	if k, ok := ca.Issue(t, Leaf{}).Key.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
		t.Error("zero Key is not ECDSA P-256")
	}

	// Within one test, RSA keys never repeat, even across hierarchies.
	seen := map[string]bool{string(ca.SPKI()): true}
	for i := 0; i < 3; i++ {
		for _, c := range []*Cert{ca.Issue(t, Leaf{Key: RSA}), NewCA(t, RSA).Cert} {
			if seen[string(c.SPKI())] {
				t.Fatal("RSA key handed out twice in one test")
			}
			seen[string(c.SPKI())] = true
		}
	}

	// Re-issuing with the same key keeps the SPKI (DANE "3 1 1").
	leaf := ca.Issue(t, Leaf{Names: []string{"mx.example.test"}})
	again := ca.Issue(t, Leaf{Names: []string{"mx.example.test"}, PrivateKey: leaf.Key})
	if !bytes.Equal(leaf.SPKI(), again.SPKI()) || bytes.Equal(leaf.DER(), again.DER()) {
		t.Error("re-issued certificate: want same SPKI, different certificate")
	}
	if !bytes.Equal(leaf.DER(), leaf.Certificate.Raw) {
		t.Error("DER() is not the certificate")
	}
}

func TestRSAPoolScopes(t *testing.T) {
	// Scopes of this run only: the pool outlives a run under -count.
	run := fmt.Sprintf("#%p", t)
	take := func(scopes ...string) *rsaSlot {
		for i := range scopes {
			scopes[i] += run
		}
		return takeRSASlot(4096, scopes)
	}
	a := take("test:x", "pki:x1")
	b := take("test:x", "pki:x2")
	c := take("test:y", "pki:y1")
	d := take("test:z", "pki:x1")
	if a == b {
		t.Error("same slot twice in one test")
	}
	if c != a {
		t.Error("another test did not reuse the first slot")
	}
	if d == a {
		t.Error("same slot twice in one hierarchy")
	}
}

// TestConcurrentIssue issues from one CA in parallel (run with -race).
func TestConcurrentIssue(t *testing.T) {
	ca := NewCA(t, ECDSA)
	r := StartOCSPResponder(t, ca)
	var wg sync.WaitGroup
	certs := make([]*Cert, 8)
	for i := range certs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			certs[i] = ca.Issue(nil, Leaf{Key: RSABits(1024)})
			r.SetStatus(certs[i], ocsp.Revoked)
			_ = ca.OCSP(nil, certs[i], OCSPOptions{WrongIssuer: true})
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, c := range certs {
		if seen[c.Certificate.SerialNumber.String()] || !ca.hasIssued(c.Certificate.SerialNumber) {
			t.Fatal("serial repeated or not recorded")
		}
		seen[c.Certificate.SerialNumber.String()] = true
	}
}
