package events

import (
	"context"
	"crypto/tls"
	"crypto/x509"
)

// VerifyConnection returns a tls.Config.VerifyConnection callback that
// raises tls:cert once per certificate of the server's chain, then calls
// next (which may be nil: the callback a dane or ocsp package gave, or the
// caller's own).
//
// The chain is the verified one when crypto/tls verified it, the one the
// server sent otherwise (InsecureSkipVerify, as opportunistic TLS to an MX
// host uses). As Exim (through OpenSSL's verify callback) does, the events
// go from the top of the chain down to the server's certificate: Data is
// the depth ("2", "1", "0") and PeerCert the certificate at that depth.
// Host and the rest come from the template in ctx (see [NewContext]); the
// handlers are bounded by ctx and Emitter.Timeout.
//
// A veto fails the handshake (a bad_certificate alert, RFC 8446 section
// 6.2) with the *VetoError as the handshake's error. The client engine
// then fails Dial under TLSRequired; under TLSOpportunistic it connects
// again and goes on in plaintext, as Exim does with tls_tempfail_tryclear.
func (e *Emitter) VerifyConnection(ctx context.Context, next func(tls.ConnectionState) error) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		chain := cs.PeerCertificates
		if len(cs.VerifiedChains) > 0 {
			chain = cs.VerifiedChains[0]
		}
		if err := e.certs(ctx, cs.ServerName, chain); err != nil {
			return err
		}
		if next != nil {
			return next(cs)
		}
		return nil
	}
}

func (e *Emitter) certs(ctx context.Context, serverName string, chain []*x509.Certificate) error {
	if e == nil || e.Handler == nil {
		return nil
	}
	for i := len(chain) - 1; i >= 0; i-- {
		ev := Event{Name: TLSCert, Data: depth(i), PeerCert: chain[i]}
		if t, ok := ctx.Value(templateKey{}).(*Event); !ok || t.Host == "" {
			ev.Host = serverName
		}
		if err := e.Emit(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}
