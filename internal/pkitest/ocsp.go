package pkitest

import (
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// Default OCSP validity window: thisUpdate an hour ago, nextUpdate a day
// later (RFC 6960 section 4.2.2.1).
const (
	ocspBackdate = time.Hour
	ocspLifetime = 24 * time.Hour
)

// OCSPOptions describe an OCSP response from [CA.OCSP] or [OCSPResponder].
// The zero value is a "good" response signed by the CA itself, valid from
// an hour ago for a day.
type OCSPOptions struct {
	// Status is ocsp.Good, ocsp.Revoked or ocsp.Unknown (RFC 6960
	// section 2.2).
	Status int
	// RevokedAt is the revocation time of a revoked certificate; zero
	// means an hour before ThisUpdate.
	RevokedAt time.Time
	// RevocationReason is the CRLReason of a revoked certificate, such as
	// ocsp.KeyCompromise (RFC 5280 section 5.3.1).
	RevocationReason int

	// ThisUpdate and NextUpdate set the validity window (RFC 6960 section
	// 4.2.2.1); each zero field takes the default, or what Expired or
	// NotYetValid say.
	ThisUpdate, NextUpdate time.Time
	// Expired puts NextUpdate an hour in the past (ThisUpdate a day
	// before it).
	Expired bool
	// NotYetValid puts ThisUpdate an hour in the future.
	NotYetValid bool

	// WrongIssuer signs the response with the key of another CA that has
	// the same subject name and key type: the CertID and the responder
	// name match the real issuer, only the signature does not verify. It
	// takes precedence over Signer.
	WrongIssuer bool
	// Signer, when set, signs the response as a delegated responder
	// (RFC 6960 section 4.2.2.2) and is included in the response's certs.
	// Use [CA.NewOCSPSigner]; any other certificate makes a response that
	// a careful client rejects.
	Signer *Cert
	// IssuerHash is the hash of the CertID (RFC 6960 section 4.1.1);
	// zero means SHA-1, what clients send (the responder answers with
	// the request's hash).
	IssuerHash crypto.Hash
}

// OCSP returns a DER-encoded OCSP response (RFC 6960 section 4.2.1) by ca
// about c, which ca should have issued.
func (ca *CA) OCSP(t testing.TB, c *Cert, o OCSPOptions) []byte {
	helper(t)
	if c == nil {
		check(t, errors.New("pkitest: OCSP for a nil certificate"))
		return nil
	}
	der, err := ca.ocspResponse(c.Certificate.SerialNumber, o)
	check(t, err)
	return der
}

// ocspResponse makes the response about serial that o describes.
func (ca *CA) ocspResponse(serial *big.Int, o OCSPOptions) ([]byte, error) {
	switch o.Status {
	case ocsp.Good, ocsp.Revoked, ocsp.Unknown:
	default:
		return nil, fmt.Errorf("pkitest: invalid OCSP status %d", o.Status)
	}
	now := time.Now().Truncate(time.Second)
	tmpl := ocsp.Response{
		Status:       o.Status,
		SerialNumber: serial,
		ThisUpdate:   now.Add(-ocspBackdate),
		NextUpdate:   now.Add(-ocspBackdate + ocspLifetime),
		IssuerHash:   o.IssuerHash,
	}
	switch {
	case o.Expired:
		tmpl.ThisUpdate, tmpl.NextUpdate = now.Add(-time.Hour-ocspLifetime), now.Add(-time.Hour)
	case o.NotYetValid:
		tmpl.ThisUpdate, tmpl.NextUpdate = now.Add(time.Hour), now.Add(time.Hour+ocspLifetime)
	}
	if !o.ThisUpdate.IsZero() {
		tmpl.ThisUpdate = o.ThisUpdate
	}
	if !o.NextUpdate.IsZero() {
		tmpl.NextUpdate = o.NextUpdate
	}
	if o.Status == ocsp.Revoked {
		tmpl.RevokedAt = o.RevokedAt
		if tmpl.RevokedAt.IsZero() {
			tmpl.RevokedAt = tmpl.ThisUpdate.Add(-time.Hour)
		}
		tmpl.RevocationReason = o.RevocationReason
	}

	// The CertID always names ca (RFC 6960 section 4.1.1); what varies
	// is who signs (RFC 6960 section 4.2.2.2).
	responder, key := ca.Certificate, ca.Key
	switch {
	case o.WrongIssuer:
		other, err := ca.impostorKey()
		if err != nil {
			return nil, err
		}
		key = other
	case o.Signer != nil:
		responder, key = o.Signer.Certificate, o.Signer.Key
		tmpl.Certificate = o.Signer.Certificate
	}
	der, err := ocsp.CreateResponse(ca.Certificate, responder, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("pkitest: creating OCSP response: %w", err)
	}
	return der, nil
}

// impostorKey returns the key of the look-alike CA that signs WrongIssuer
// responses: of the same type as ca's key, so that only the signature
// value is wrong, and made once per CA.
func (ca *CA) impostorKey() (crypto.Signer, error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if ca.impostor == nil {
		kind := ECDSA
		if k, ok := ca.Key.(*rsa.PrivateKey); ok {
			kind = RSABits(k.N.BitLen())
		}
		key, err := newKey(kind, []string{ca.scope})
		if err != nil {
			return nil, err
		}
		ca.impostor = key
	}
	return ca.impostor, nil
}
