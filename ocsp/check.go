package ocsp

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	xocsp "golang.org/x/crypto/ocsp"
)

// Statuses (RFC 6960 section 2.2).
const (
	Good    = xocsp.Good
	Revoked = xocsp.Revoked
	Unknown = xocsp.Unknown
)

// Errors of Check; each is wrapped with details.
var (
	// ErrRevoked: the response says the certificate is revoked.
	ErrRevoked = errors.New("ocsp: certificate revoked")
	// ErrUnknown: the responder does not know the certificate.
	ErrUnknown = errors.New("ocsp: certificate status unknown")
	// ErrStale: now is outside ThisUpdate..NextUpdate, or the delegated
	// responder's certificate is not valid now.
	ErrStale = errors.New("ocsp: response not current")
	// ErrInvalid: the response does not parse, is not about this
	// certificate, or its signature does not check.
	ErrInvalid = errors.New("ocsp: invalid response")
)

// MaxResponseSize bounds an OCSP response read from a file or a responder;
// one for a single certificate with a delegated responder is about 1.5 KB.
const MaxResponseSize = 64 << 10

// Response is a checked OCSP response.
type Response = xocsp.Response

// Check verifies a DER OCSP response (RFC 6960 section 4.2.1) about leaf,
// issued by issuer, at time now, and returns it with a nil error only if
// it is usable as proof that leaf is good:
//
//   - it is a successful basic response with a single response for leaf's
//     serial number whose CertID names issuer (issuer name and key
//     hashes, RFC 6960 section 4.1.1);
//   - it is signed by issuer, or by a delegated responder whose
//     certificate issuer signed, that carries the id-kp-OCSPSigning
//     extended key usage (RFC 6960 section 4.2.2.2) and is valid now;
//   - ThisUpdate <= now < NextUpdate (RFC 6960 section 4.2.2.1; a
//     response without NextUpdate is refused, there is no telling how
//     old it may be);
//   - the status is good: a revoked certificate gives the response and an
//     error wrapping ErrRevoked, unknown one wrapping ErrUnknown.
func Check(der []byte, leaf, issuer *x509.Certificate, now time.Time) (*Response, error) {
	resp, err := parse(der, leaf, issuer)
	if err != nil {
		return nil, err
	}
	if err := current(resp, now); err != nil {
		return resp, err
	}
	return resp, status(resp)
}

// parse does the time-independent checks of Check.
func parse(der []byte, leaf, issuer *x509.Certificate) (*Response, error) {
	if leaf == nil || issuer == nil {
		return nil, fmt.Errorf("%w: no certificate or issuer to check against", ErrInvalid)
	}
	if len(der) > MaxResponseSize {
		return nil, fmt.Errorf("%w: %d octets", ErrInvalid, len(der))
	}
	// ParseResponseForCert picks the response for leaf's serial and
	// checks the signature: by issuer, or by the embedded responder
	// certificate, which issuer must have signed.
	resp, err := xocsp.ParseResponseForCert(der, leaf, issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if resp.Certificate != nil && !bytes.Equal(resp.Certificate.Raw, issuer.Raw) {
		// RFC 6960 section 4.2.2.2: a delegated responder must hold
		// id-kp-OCSPSigning, issued directly by the CA.
		ok := false
		for _, u := range resp.Certificate.ExtKeyUsage {
			if u == x509.ExtKeyUsageOCSPSigning {
				ok = true
			}
		}
		if !ok {
			return nil, fmt.Errorf("%w: responder %q lacks the OCSPSigning key usage", ErrInvalid, resp.Certificate.Subject)
		}
	}
	// x/crypto/ocsp matches the serial only; the CertID must also name
	// this issuer (RFC 6960 section 4.1.1).
	if err := checkCertID(der, leaf.SerialNumber, issuer); err != nil {
		return nil, err
	}
	if resp.NextUpdate.IsZero() {
		return nil, fmt.Errorf("%w: no nextUpdate", ErrInvalid)
	}
	return resp, nil
}

// current checks the validity window at now, and that of a delegated
// responder's certificate: Exim's notes warn of a signer that expires
// before the response's NextUpdate.
func current(resp *Response, now time.Time) error {
	if now.Before(resp.ThisUpdate) {
		return fmt.Errorf("%w: thisUpdate %s is in the future", ErrStale, resp.ThisUpdate.UTC().Format(time.RFC3339))
	}
	if !now.Before(resp.NextUpdate) {
		return fmt.Errorf("%w: expired at nextUpdate %s", ErrStale, resp.NextUpdate.UTC().Format(time.RFC3339))
	}
	if c := resp.Certificate; c != nil && (now.Before(c.NotBefore) || now.After(c.NotAfter)) {
		return fmt.Errorf("%w: responder certificate %q valid %s to %s", ErrStale, c.Subject,
			c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

func status(resp *Response) error {
	switch resp.Status {
	case Good:
		return nil
	case Revoked:
		return fmt.Errorf("%w at %s (reason %d)", ErrRevoked, resp.RevokedAt.UTC().Format(time.RFC3339), resp.RevocationReason)
	}
	return ErrUnknown
}

// validUntil is when a checked response stops being usable: NextUpdate,
// or the expiry of its delegated responder's certificate if earlier.
func validUntil(resp *Response) time.Time {
	t := resp.NextUpdate
	if c := resp.Certificate; c != nil && c.NotAfter.Before(t) {
		t = c.NotAfter
	}
	return t
}

// The ASN.1 of RFC 6960 section 4.2.1, as far as the CertIDs.
type (
	ocspResponseASN1 struct {
		Status asn1.Enumerated
		Bytes  struct {
			Type     asn1.ObjectIdentifier
			Response []byte
		} `asn1:"explicit,tag:0,optional"`
	}
	basicResponseASN1 struct {
		TBS struct {
			Raw        asn1.RawContent
			Version    int             `asn1:"optional,explicit,default:0,tag:0"`
			Responder  asn1.RawValue   // CHOICE, tagged
			ProducedAt time.Time       `asn1:"generalized"`
			Responses  []asn1.RawValue // SingleResponse, CertID first
		}
		Algorithm pkix.AlgorithmIdentifier
		Signature asn1.BitString
		Certs     []asn1.RawValue `asn1:"explicit,tag:0,optional"`
	}
	certIDASN1 struct {
		Hash     pkix.AlgorithmIdentifier
		NameHash []byte
		KeyHash  []byte
		Serial   *big.Int
	}
)

var hashByOID = map[string]crypto.Hash{
	"1.3.14.3.2.26":          crypto.SHA1,
	"2.16.840.1.101.3.4.2.1": crypto.SHA256,
	"2.16.840.1.101.3.4.2.2": crypto.SHA384,
	"2.16.840.1.101.3.4.2.3": crypto.SHA512,
}

// checkCertID finds the single response for serial and compares its
// issuer name and key hashes with issuer's.
func checkCertID(der []byte, serial *big.Int, issuer *x509.Certificate) error {
	var r ocspResponseASN1
	if _, err := asn1.Unmarshal(der, &r); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var b basicResponseASN1
	if _, err := asn1.Unmarshal(r.Bytes.Response, &b); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &spki); err != nil {
		return fmt.Errorf("%w: issuer key: %w", ErrInvalid, err)
	}
	for _, raw := range b.TBS.Responses {
		var id certIDASN1
		if _, err := asn1.Unmarshal(raw.Bytes, &id); err != nil {
			return fmt.Errorf("%w: CertID: %w", ErrInvalid, err)
		}
		if id.Serial == nil || id.Serial.Cmp(serial) != 0 {
			continue
		}
		h, ok := hashByOID[id.Hash.Algorithm.String()]
		if !ok || !h.Available() {
			return fmt.Errorf("%w: CertID hash %s", ErrInvalid, id.Hash.Algorithm)
		}
		nh := h.New()
		nh.Write(issuer.RawSubject)
		kh := h.New()
		kh.Write(spki.PublicKey.RightAlign())
		if !bytes.Equal(nh.Sum(nil), id.NameHash) || !bytes.Equal(kh.Sum(nil), id.KeyHash) {
			return fmt.Errorf("%w: CertID names another issuer", ErrInvalid)
		}
		return nil
	}
	return fmt.Errorf("%w: no response for serial %s", ErrInvalid, serial)
}
