package pkitest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Validity defaults. Certificates are back-dated a little so that clock
// differences between a test and a peer (openssl, exim) do not matter.
const (
	caLifetime   = 10 * 365 * 24 * time.Hour
	leafLifetime = 90 * 24 * time.Hour
	backdate     = time.Hour
)

var (
	// oidTLSFeature is id-pe-tlsfeature (RFC 7633 section 4).
	oidTLSFeature = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}
	// oidOCSPNoCheck is id-pkix-ocsp-nocheck (RFC 6960 section 4.2.2.2.1).
	oidOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}
)

// tlsFeatureStatusRequest is the TLS extension number of status_request
// (RFC 6066 section 8), the feature that makes a certificate "Must-Staple".
const tlsFeatureStatusRequest = 5

// seq numbers the subjects of this process, so that every CA has its own
// name and tests never build a chain through the wrong CA by accident.
var seq atomic.Uint64

// CA is a certificate authority of a test PKI: a root from [NewCA] or an
// intermediate from [CA.NewIntermediate]. Its own certificate, key and issuer
// are those of the embedded [Cert], so ca.Certificate, ca.SPKI() and
// ca.Pool() work as on any certificate.
type CA struct {
	*Cert

	scope string // key-pool scope shared by the whole hierarchy

	mu       sync.Mutex
	issued   map[string]bool // serials (decimal) issued by this CA
	impostor crypto.Signer   // signs WrongIssuer OCSP responses
}

// Leaf describes an end-entity certificate for [CA.Issue] and [SelfSigned].
// The zero value is an ECDSA certificate without names, valid now for 90
// days, for TLS servers and clients.
type Leaf struct {
	// Names become the subjectAltName (RFC 5280 section 4.2.1.6): entries
	// that parse as IP addresses become iPAddress names, the others dNSName
	// names; wildcards such as "*.example.test" are kept as given. With no
	// Names the certificate has no SAN extension at all, only the
	// CommonName, as DANE's CN fallback tests need.
	Names []string
	// CommonName is the subject CN; it defaults to Names[0]. With neither
	// Names nor CommonName the certificate names nobody: its subject is
	// only O=smtpkit pkitest.
	CommonName string

	// Key chooses the key type; the zero value is ECDSA P-256.
	Key KeyType
	// PrivateKey, when set, is used instead of generating a key, to
	// re-issue a certificate with the key of another (DANE "3 1 1"
	// records survive that).
	PrivateKey crypto.Signer

	// NotBefore and NotAfter set the validity (RFC 5280 section 4.1.2.5);
	// each zero field takes the default: from an hour ago for 90 days, or
	// as Expired or NotYetValid say.
	NotBefore, NotAfter time.Time
	// Expired makes the certificate valid from 90 days ago until one day
	// ago.
	Expired bool
	// NotYetValid makes the certificate valid from tomorrow on.
	NotYetValid bool

	// ExtKeyUsage is the extended key usage (RFC 5280 section 4.2.1.12);
	// nil means serverAuth and clientAuth, as MTA certificates have.
	ExtKeyUsage []x509.ExtKeyUsage
	// MustStaple adds the TLS feature extension listing status_request
	// (RFC 7633), the "OCSP Must-Staple" marker.
	MustStaple bool
	// OCSPURL, when set, is put in the Authority Information Access
	// extension as the OCSP responder's address (RFC 5280 section
	// 4.2.2.1), e.g. [OCSPResponder.URL].
	OCSPURL string
}

// NewCA returns a new self-signed root CA with a key of type key.
//
// Like every function of this package taking a testing.TB, it stops the test
// with t.Fatal on error; t may be nil outside tests (examples, TestMain), and
// an error then panics.
func NewCA(t testing.TB, key KeyType) *CA {
	helper(t)
	ca, err := newCA(nil, key, testScopes(t))
	check(t, err)
	return ca
}

// NewIntermediate returns a new intermediate CA issued by ca. Chains can be
// of any depth.
func (ca *CA) NewIntermediate(t testing.TB, key KeyType) *CA {
	helper(t)
	in, err := newCA(ca, key, testScopes(t))
	check(t, err)
	return in
}

// Issue returns a new end-entity certificate issued by ca.
func (ca *CA) Issue(t testing.TB, l Leaf) *Cert {
	helper(t)
	c, err := ca.issue(l, testScopes(t), nil)
	check(t, err)
	return c
}

// NewOCSPSigner returns a delegated OCSP responder certificate issued by ca:
// l with the extended key usage id-kp-OCSPSigning (RFC 6960 section
// 4.2.2.2) and the id-pkix-ocsp-nocheck extension (RFC 6960 section
// 4.2.2.2.1). Pass it as [OCSPOptions.Signer]. For a responder certificate
// without that key usage, pass a certificate from [CA.Issue] instead.
func (ca *CA) NewOCSPSigner(t testing.TB, l Leaf) *Cert {
	helper(t)
	if l.CommonName == "" && len(l.Names) == 0 {
		l.CommonName = fmt.Sprintf("pkitest OCSP signer %d", seq.Add(1))
	}
	l.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}
	c, err := ca.issue(l, testScopes(t), func(tmpl *x509.Certificate) {
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{
			Id: oidOCSPNoCheck, Value: asn1.NullBytes,
		})
	})
	check(t, err)
	return c
}

// SelfSigned returns a self-signed end-entity certificate (no CA), like the
// one an MTA makes up at first start. Its Issuer is nil and its Pool holds
// the certificate itself.
func SelfSigned(t testing.TB, l Leaf) *Cert {
	helper(t)
	scopes := append(testScopes(t), fmt.Sprintf("pki:%d", seq.Add(1)))
	c, err := createLeaf(nil, l, scopes, nil)
	check(t, err)
	return c
}

func newCA(parent *CA, key KeyType, scopes []string) (*CA, error) {
	n := seq.Add(1)
	ca := &CA{issued: make(map[string]bool)}
	name := fmt.Sprintf("pkitest root CA %d", n)
	if parent != nil {
		ca.scope = parent.scope
		name = fmt.Sprintf("pkitest intermediate CA %d", n)
	} else {
		ca.scope = fmt.Sprintf("pki:%d", n)
	}
	priv, err := newKey(key, append(scopes, ca.scope))
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"smtpkit pkitest"}, CommonName: name},
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(caLifetime),
		// RFC 5280 section 4.2.1.9 and 4.2.1.3: a CA says so in a
		// critical basicConstraints and may sign certificates and
		// CRLs; digitalSignature lets it sign OCSP responses too.
		BasicConstraintsValid: true,
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	cert, err := create(tmpl, parent, priv)
	if err != nil {
		return nil, err
	}
	ca.Cert = &Cert{Certificate: cert, Key: priv, Issuer: parent}
	if parent != nil {
		parent.record(serial)
	}
	return ca, nil
}

func (ca *CA) issue(l Leaf, scopes []string, edit func(*x509.Certificate)) (*Cert, error) {
	c, err := createLeaf(ca, l, append(scopes, ca.scope), edit)
	if err != nil {
		return nil, err
	}
	ca.record(c.Certificate.SerialNumber)
	return c, nil
}

// record notes a serial issued by ca, for the OCSP responder.
func (ca *CA) record(serial *big.Int) {
	ca.mu.Lock()
	ca.issued[serial.String()] = true
	ca.mu.Unlock()
}

// hasIssued reports whether ca issued the certificate with this serial.
func (ca *CA) hasIssued(serial *big.Int) bool {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	return ca.issued[serial.String()]
}

// createLeaf makes the certificate l describes, signed by ca or, with a nil
// ca, by its own key.
func createLeaf(ca *CA, l Leaf, scopes []string, edit func(*x509.Certificate)) (*Cert, error) {
	priv := l.PrivateKey
	if priv == nil {
		var err error
		if priv, err = newKey(l.Key, scopes); err != nil {
			return nil, err
		}
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		BasicConstraintsValid: true,
		IsCA:                  false,
		// RFC 5280 section 4.2.1.3; keyEncipherment only means something
		// for RSA keys (TLS 1.2 RSA key exchange).
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: l.ExtKeyUsage,
	}
	if _, ok := priv.Public().(*rsa.PublicKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	if tmpl.ExtKeyUsage == nil {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}

	tmpl.Subject = pkix.Name{Organization: []string{"smtpkit pkitest"}, CommonName: l.CommonName}
	for _, name := range l.Names {
		if ip, err := netip.ParseAddr(name); err == nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(ip.AsSlice()))
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, name)
		}
	}
	if tmpl.Subject.CommonName == "" && len(l.Names) > 0 {
		tmpl.Subject.CommonName = l.Names[0]
	}

	now := time.Now().Truncate(time.Second)
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-backdate), now.Add(leafLifetime)
	switch {
	case l.Expired:
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-leafLifetime), now.Add(-24*time.Hour)
	case l.NotYetValid:
		tmpl.NotBefore, tmpl.NotAfter = now.Add(24*time.Hour), now.Add(leafLifetime)
	}
	if !l.NotBefore.IsZero() {
		tmpl.NotBefore = l.NotBefore
	}
	if !l.NotAfter.IsZero() {
		tmpl.NotAfter = l.NotAfter
	}

	if l.OCSPURL != "" {
		tmpl.OCSPServer = []string{l.OCSPURL}
	}
	if l.MustStaple {
		// RFC 7633 section 4: Features ::= SEQUENCE OF INTEGER, here
		// the single feature status_request.
		val, err := asn1.Marshal([]int{tlsFeatureStatusRequest})
		if err != nil {
			return nil, fmt.Errorf("pkitest: encoding TLS feature extension: %w", err)
		}
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: oidTLSFeature, Value: val})
	}
	if edit != nil {
		edit(tmpl)
	}

	cert, err := create(tmpl, ca, priv)
	if err != nil {
		return nil, err
	}
	return &Cert{Certificate: cert, Key: priv, Issuer: ca}, nil
}

// create signs tmpl with the key of issuer, or self-signs it with priv when
// issuer is nil, and parses the result.
func create(tmpl *x509.Certificate, issuer *CA, priv crypto.Signer) (*x509.Certificate, error) {
	parent, signer := tmpl, priv
	if issuer != nil {
		parent, signer = issuer.Certificate, issuer.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, priv.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("pkitest: creating certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pkitest: parsing certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	return cert, nil
}

// newSerial returns a random positive serial number of at most 16 octets
// (RFC 5280 section 4.1.2.2 allows up to 20).
func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pkitest: generating serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// testScopes returns the key-pool scope of t's top-level test: certificates
// made within one test never share an RSA key.
func testScopes(t testing.TB) []string {
	if t == nil {
		return nil
	}
	name, _, _ := strings.Cut(t.Name(), "/")
	return []string{"test:" + name}
}

func helper(t testing.TB) {
	if t != nil {
		t.Helper()
	}
}

// check stops the test on err, or panics when there is no test.
func check(t testing.TB, err error) {
	if err == nil {
		return
	}
	if t == nil {
		panic(err)
	}
	t.Helper()
	t.Fatal(err)
}
