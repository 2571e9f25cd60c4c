package ocsp_test

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"

	"github.com/smtpkit/smtpkit/internal/pkitest"
	"github.com/smtpkit/smtpkit/ocsp"
)

func ExampleStapler() {
	ca := pkitest.NewCA(nil, pkitest.ECDSA)
	cert := ca.Issue(nil, pkitest.Leaf{Names: []string{"mx.example.test"}})
	dir, _ := os.MkdirTemp("", "ocsp-example")
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "staple.der")
	_ = os.WriteFile(file, ca.OCSP(nil, cert, pkitest.OCSPOptions{}), 0o644)

	tc := cert.TLS()
	st := ocsp.NewStapler(nil)
	if err := st.Add(&tc, ca.Certificate, file); err != nil {
		panic(err)
	}
	server := &tls.Config{GetCertificate: st.GetCertificate}

	c, _ := server.GetCertificate(&tls.ClientHelloInfo{ServerName: "mx.example.test"})
	fmt.Println("stapled:", len(c.OCSPStaple) > 0)

	// The file replaced by a revoked response: nothing is stapled.
	_ = os.WriteFile(file+".new", ca.OCSP(nil, cert, pkitest.OCSPOptions{Status: ocsp.Revoked}), 0o644)
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
