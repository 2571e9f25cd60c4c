package ocsp_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/smtpkit/smtpkit/ocsp"
)

func ExampleStapler() {
	// A certificate and its issuer; in a server, tls.LoadX509KeyPair of
	// a chain file, whose second certificate is the issuer.
	issuer, issuerKey, cert := exampleCerts("mx.example.test")
	dir, _ := os.MkdirTemp("", "ocsp-example")
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "staple.der")
	_ = os.WriteFile(file, exampleResponse(issuer, issuerKey, cert.Leaf, xocsp.Good), 0o644)

	st := ocsp.NewStapler(nil)
	if err := st.Add(&cert, issuer, file); err != nil {
		panic(err)
	}
	server := &tls.Config{GetCertificate: st.GetCertificate} // a go-smtp Server's TLSConfig

	c, _ := server.GetCertificate(&tls.ClientHelloInfo{ServerName: "mx.example.test"})
	fmt.Println("stapled:", len(c.OCSPStaple) > 0)

	// The file replaced by a revoked response: nothing is stapled.
	_ = os.WriteFile(file+".new", exampleResponse(issuer, issuerKey, cert.Leaf, xocsp.Revoked), 0o644)
	_ = os.Rename(file+".new", file)
	c, _ = server.GetCertificate(&tls.ClientHelloInfo{ServerName: "mx.example.test"})
	fmt.Println("stapled:", len(c.OCSPStaple) > 0)
	// Output:
	// stapled: true
	// stapled: false
}

func ExampleChecker() {
	chk := &ocsp.Checker{Mode: ocsp.Require}
	cfg := chk.TLSConfig(&tls.Config{ServerName: "mx.example.test"})
	// cfg goes into client.Options.TLSConfig; after Dial, log chk.Result().
	fmt.Println(cfg.VerifyConnection(tls.ConnectionState{}))
	fmt.Println(chk.Result().Status)
	// Output:
	// ocsp: required, but the server stapled no response
	// none
}

// exampleCerts makes a CA and a certificate for name that it issued.
func exampleCerts(name string) (*x509.Certificate, crypto.Signer, tls.Certificate) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Example CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
	}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	leaf, _ := x509.ParseCertificate(der)
	return ca, caKey, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// exampleResponse is the CA's OCSP response about leaf, as a responder
// gives it or as openssl ocsp writes it to a file.
func exampleResponse(ca *x509.Certificate, caKey crypto.Signer, leaf *x509.Certificate, status int) []byte {
	der, _ := xocsp.CreateResponse(ca, ca, xocsp.Response{
		Status: status, SerialNumber: leaf.SerialNumber,
		ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour),
		RevokedAt: time.Now().Add(-time.Minute),
	}, caKey)
	return der
}
