// Package ocsp staples OCSP responses (RFC 6960, RFC 6066 section 8) on a
// server's certificate and checks the staples a client gets, as Exim's
// tls_ocsp_file, hosts_require_ocsp and hosts_request_ocsp do.
//
// A server staples a response from a file, optionally kept fresh from the
// certificate's responder, a little more than Exim does. A go-smtp server
// turns it on in its TLS config:
//
//	st := ocsp.NewStapler(nil)
//	err := st.Add(&cert, nil, "/var/lib/mta/ocsp.der") // the issuer: cert.Certificate[1]
//	srv.TLSConfig = &tls.Config{GetCertificate: st.GetCertificate}
//
// # Checks
//
// [Check] accepts a DER response only if it is a good, current answer
// about that certificate: the CertID names its issuer (serial, issuer name
// and key hashes, RFC 6960 section 4.1.1); the signature is the issuer's,
// or a delegated responder's whose certificate the issuer signed, that
// carries id-kp-OCSPSigning (section 4.2.2.2) and is valid now; and
// ThisUpdate <= now < NextUpdate (section 4.2.2.1). Revoked and unknown
// certificates give [ErrRevoked] and [ErrUnknown]. golang.org/x/crypto/ocsp
// parses; the rest is done here.
//
// # Server: stapling
//
// A [Stapler] wraps tls.Config.GetCertificate. Each certificate added
// with [Stapler.Add] has its staple file, re-checked by stat (inode, size,
// mtime) on every handshake, so a file replaced atomically takes effect
// at the next connection; what it holds is stapled only while [Check]
// accepts it, otherwise nothing is stapled and the reason logged once.
// The certificate is never modified: a copy carries the staple. Several
// certificates (SNI) each have their own file.
//
// A [Refresher] maintains such a file, what Exim leaves to a cron job:
// it asks the responder named in the certificate's AIA extension (HTTP
// POST, or GET for short requests, RFC 6960 appendix A), writes a good
// response atomically, refreshes at half its validity (earlier when the
// responder's certificate expires first), keeps the last good file when a
// fetch fails, removes it when the certificate is revoked, and treats a
// certificate without an OCSP URL as normal.
//
// Wiring into a go-smtp server (examples/mta's -ocsp-file, -ocsp-refresh):
//
//	st := ocsp.NewStapler(&ocsp.StaplerOptions{Logger: log})
//	st.Add(&cert, nil, "/var/lib/mta/ocsp.der")   // issuer: cert.Certificate[1]
//	go (&ocsp.Refresher{Certificate: &cert, File: "/var/lib/mta/ocsp.der", Logger: log}).Run(ctx)
//	server.TLSConfig = &tls.Config{GetCertificate: st.GetCertificate}
//
// An existing GetCertificate goes in StaplerOptions.GetCertificate; the
// certificates it returns are stapled when they were added.
//
// # Client
//
// A [Checker] with Mode [Require] fails the handshake without a good,
// current staple for the server's certificate; with [Request] it checks
// a staple when one is sent, and a revoked, stale or unverifiable one
// fails. On a resumed session crypto/tls reports the staple of the first
// handshake, which is checked against the current time again. The issuer
// comes from the verified chain, or from the certificates the server sent
// when Go's own verification is off (DANE). [Checker.Result] tells what
// to log.
//
// Wiring into the client engine (smtpkit/client), after DANE's config so
// that DANE runs first:
//
//	chk := &ocsp.Checker{Mode: ocsp.WithDANE(mode, dane.UsageBits(policy.Usable))}
//	opts.TLSConfig = chk.TLSConfig(policy.TLSConfig(base))
//	c, err := client.Dial(ctx, addr, opts)       // a failed check: a TLS error
//	log: chk.Result() (status=good|revoked|none|invalid)
//
// [WithDANE] follows Exim's default: with DANE, OCSP is asked for only
// when a DANE-TA record is present. Under client.TLSOpportunistic a
// failed check makes the engine retry in plaintext; use client.TLSRequired
// with Require, as Exim's hosts_require_ocsp implies TLS.
package ocsp
