package pkitest

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Cert is a certificate of the test PKI with its private key.
type Cert struct {
	// Certificate is the parsed certificate.
	Certificate *x509.Certificate
	// Key is the certificate's private key: *ecdsa.PrivateKey,
	// *rsa.PrivateKey, or the Leaf.PrivateKey it was issued for.
	Key crypto.Signer
	// Issuer is the CA that signed the certificate; nil for a root CA and
	// for [SelfSigned] certificates.
	Issuer *CA
}

// Chain returns the certificate followed by the intermediate CAs above it,
// without the root: the chain a TLS server sends.
func (c *Cert) Chain() []*x509.Certificate {
	chain := []*x509.Certificate{c.Certificate}
	for iss := c.Issuer; iss != nil && iss.Issuer != nil; iss = iss.Issuer {
		chain = append(chain, iss.Certificate)
	}
	return chain
}

// Root returns the root of the certificate's hierarchy: the root CA's
// certificate, or c itself for a root or self-signed certificate.
func (c *Cert) Root() *Cert {
	for c.Issuer != nil {
		c = c.Issuer.Cert
	}
	return c
}

// Pool returns a new pool holding the root of c's hierarchy, for
// tls.Config.RootCAs and x509.VerifyOptions.Roots.
func (c *Cert) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(c.Root().Certificate)
	return pool
}

// Intermediates returns a new pool holding the intermediate CAs of c's
// chain, for x509.VerifyOptions.Intermediates.
func (c *Cert) Intermediates() *x509.CertPool {
	pool := x509.NewCertPool()
	for _, in := range c.Chain()[1:] {
		pool.AddCert(in)
	}
	return pool
}

// TLS returns the certificate for tls.Config.Certificates: the chain from
// [Cert.Chain], the private key, and Leaf set. Each call returns a new
// value, so a test may set OCSPStaple on it.
func (c *Cert) TLS() tls.Certificate {
	var tc tls.Certificate
	for _, cert := range c.Chain() {
		tc.Certificate = append(tc.Certificate, cert.Raw)
	}
	tc.PrivateKey = c.Key
	tc.Leaf = c.Certificate
	return tc
}

// DER returns the certificate's DER encoding: the input of a TLSA record
// with selector Cert(0) (RFC 6698 section 2.1.2).
func (c *Cert) DER() []byte { return c.Certificate.Raw }

// SPKI returns the DER encoding of the certificate's SubjectPublicKeyInfo:
// the input of a TLSA record with selector SPKI(1) (RFC 6698 section
// 2.1.2), so "3 1 1" is sha256.Sum256(c.SPKI()).
func (c *Cert) SPKI() []byte { return c.Certificate.RawSubjectPublicKeyInfo }

// CertPEM returns the certificate alone, PEM-encoded.
func (c *Cert) CertPEM() []byte { return encodeCerts(c.Certificate) }

// ChainPEM returns the intermediate CAs of [Cert.Chain] (without the
// certificate itself), PEM-encoded; empty when c is issued by a root.
func (c *Cert) ChainPEM() []byte { return encodeCerts(c.Chain()[1:]...) }

// KeyPEM returns the private key as PEM-encoded PKCS #8 ("PRIVATE KEY"),
// which OpenSSL, GnuTLS and Go all read.
// It panics if the key cannot be encoded, which happens only for a foreign
// [Leaf.PrivateKey] such as a hardware-backed signer.
func (c *Cert) KeyPEM() []byte {
	b, err := c.keyPEM()
	if err != nil {
		panic(err)
	}
	return b
}

func (c *Cert) keyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		return nil, fmt.Errorf("pkitest: encoding private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Files are the paths [Cert.WriteFiles] wrote.
type Files struct {
	Cert      string // cert.pem: the certificate
	Key       string // key.pem: its private key, PKCS #8, mode 0600
	Chain     string // chain.pem: the intermediate CAs, empty without any
	FullChain string // fullchain.pem: the certificate and the intermediates
	CA        string // ca.pem: the root CA (the certificate itself if self-signed)
}

// WriteFiles writes cert.pem, key.pem, chain.pem, fullchain.pem and ca.pem
// into dir (created if missing) for peers that read files: openssl, exim,
// haproxy. `openssl verify -CAfile ca.pem -untrusted chain.pem cert.pem`
// accepts them; for a certificate issued by the root, chain.pem is empty,
// which openssl refuses as -untrusted: pass fullchain.pem there instead.
func (c *Cert) WriteFiles(t testing.TB, dir string) Files {
	helper(t)
	f := Files{
		Cert:      filepath.Join(dir, "cert.pem"),
		Key:       filepath.Join(dir, "key.pem"),
		Chain:     filepath.Join(dir, "chain.pem"),
		FullChain: filepath.Join(dir, "fullchain.pem"),
		CA:        filepath.Join(dir, "ca.pem"),
	}
	check(t, c.writeFiles(dir, f))
	return f
}

func (c *Cert) writeFiles(dir string, f Files) error {
	key, err := c.keyPEM()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pkitest: %w", err)
	}
	files := []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{f.Cert, c.CertPEM(), 0o644},
		{f.Key, key, 0o600},
		{f.Chain, c.ChainPEM(), 0o644},
		{f.FullChain, encodeCerts(c.Chain()...), 0o644},
		{f.CA, c.Root().CertPEM(), 0o644},
	}
	for _, file := range files {
		if err := os.WriteFile(file.path, file.data, file.mode); err != nil {
			return fmt.Errorf("pkitest: %w", err)
		}
	}
	return nil
}

func encodeCerts(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, cert := range certs {
		// Writing to a bytes.Buffer does not fail.
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	}
	return b.Bytes()
}
