// Package pkitest builds test PKIs in a few lines: root and intermediate
// CAs, leaf certificates with the variants that TLS, DANE (RFC 7672) and OCSP
// stapling (RFC 6960, RFC 6066 section 8) tests need, OCSP responses, and an
// OCSP responder over HTTP on loopback. All crypto is real; nothing is
// mocked. It is for tests only.
//
// A hierarchy starts at [NewCA]; [CA.NewIntermediate] adds CAs below it, to
// any depth, and [CA.Issue] makes end-entity certificates described by a
// [Leaf]: names (DNS, wildcard or IP), key type, validity (including expired
// and not yet valid), a CN without any subjectAltName (DANE's CN fallback),
// extended key usage, OCSP Must-Staple (RFC 7633) and an OCSP responder URL
// (RFC 5280 section 4.2.2.1). [SelfSigned] makes a certificate without a
// CA, like the one an MTA makes up at first start.
//
//	ca := pkitest.NewCA(t, pkitest.ECDSA)
//	in := ca.NewIntermediate(t, pkitest.RSA)
//	leaf := in.Issue(t, pkitest.Leaf{Names: []string{"mx.example.test"}})
//	srv := &tls.Config{Certificates: []tls.Certificate{leaf.TLS()}}
//	cli := &tls.Config{RootCAs: ca.Pool(), ServerName: "mx.example.test"}
//
// A [Cert] gives what the code under test consumes: [Cert.TLS] for
// crypto/tls, [Cert.Pool] and [Cert.Chain] for crypto/x509, [Cert.SPKI] and
// [Cert.DER] for TLSA digests (a "3 1 1" record is the SHA-256 of the SPKI),
// PEM encodings, and [Cert.WriteFiles] for peers such as openssl, Exim and
// HAProxy that read cert.pem, key.pem, chain.pem, fullchain.pem and ca.pem.
//
// [CA.OCSP] signs OCSP responses with golang.org/x/crypto/ocsp: good,
// revoked or unknown; expired or not yet valid; signed by the CA, by a
// delegated responder from [CA.NewOCSPSigner] (RFC 6960 section 4.2.2.2), or
// by a look-alike CA with the same name and another key. [StartOCSPResponder]
// serves such responses over HTTP, POST and GET (RFC 6960 appendix A), with
// statuses a test sets per certificate and a request counter.
//
// Functions taking a testing.TB stop the test with t.Fatal on error. The t
// may be nil outside tests, in examples and TestMain: errors then panic.
//
// ECDSA keys (P-256) are generated for every certificate. RSA keys are slow
// to generate, so they come from a pool shared by the tests of a process: a
// key is never given twice within one hierarchy (a root and everything
// below it) nor within one top-level test, but two hierarchies of different
// tests may share an RSA key. Use ECDSA where keys must differ across
// tests.
package pkitest
