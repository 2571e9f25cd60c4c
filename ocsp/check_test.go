package ocsp

import (
	"errors"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/pkitest"
)

func TestCheck(t *testing.T) {
	ca := pkitest.NewCA(t, pkitest.ECDSA)
	leaf := ca.Issue(t, pkitest.Leaf{Names: []string{"mx.example.test"}})
	otherCA := pkitest.NewCA(t, pkitest.ECDSA)
	otherLeaf := ca.Issue(t, pkitest.Leaf{Names: []string{"other.example.test"}})
	signer := ca.NewOCSPSigner(t, pkitest.Leaf{})
	noEKU := ca.Issue(t, pkitest.Leaf{Names: []string{"ocsp.example.test"}})
	// The failure mode of Exim's fetch script: the responder's
	// certificate expires before the response's nextUpdate.
	shortSigner := ca.NewOCSPSigner(t, pkitest.Leaf{NotAfter: time.Now().Add(time.Hour)})
	now := time.Now()

	for _, tc := range []struct {
		name string
		der  []byte
		at   time.Time
		want error
	}{
		{"good", ca.OCSP(t, leaf, pkitest.OCSPOptions{}), now, nil},
		{"good SHA-256 CertID", ca.OCSP(t, leaf, pkitest.OCSPOptions{IssuerHash: 5 /* crypto.SHA256 */}), now, nil},
		{"delegated", ca.OCSP(t, leaf, pkitest.OCSPOptions{Signer: signer}), now, nil},
		{"revoked", ca.OCSP(t, leaf, pkitest.OCSPOptions{Status: Revoked}), now, ErrRevoked},
		{"unknown", ca.OCSP(t, leaf, pkitest.OCSPOptions{Status: Unknown}), now, ErrUnknown},
		{"expired", ca.OCSP(t, leaf, pkitest.OCSPOptions{Expired: true}), now, ErrStale},
		{"not yet valid", ca.OCSP(t, leaf, pkitest.OCSPOptions{NotYetValid: true}), now, ErrStale},
		{"later than nextUpdate", ca.OCSP(t, leaf, pkitest.OCSPOptions{}), now.Add(25 * time.Hour), ErrStale},
		{"wrong issuer key", ca.OCSP(t, leaf, pkitest.OCSPOptions{WrongIssuer: true}), now, ErrInvalid},
		{"delegated without OCSPSigning", ca.OCSP(t, leaf, pkitest.OCSPOptions{Signer: noEKU}), now, ErrInvalid},
		{"signer valid now", ca.OCSP(t, leaf, pkitest.OCSPOptions{Signer: shortSigner}), now, nil},
		{"signer expired before nextUpdate", ca.OCSP(t, leaf, pkitest.OCSPOptions{Signer: shortSigner}), now.Add(2 * time.Hour), ErrStale},
		{"another certificate", ca.OCSP(t, otherLeaf, pkitest.OCSPOptions{}), now, ErrInvalid},
		{"another CA", otherCA.OCSP(t, otherCA.Issue(t, pkitest.Leaf{}), pkitest.OCSPOptions{}), now, ErrInvalid},
		{"garbage", []byte("not DER"), now, ErrInvalid},
		{"empty", nil, now, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := Check(tc.der, leaf.Certificate, ca.Certificate, tc.at)
			if tc.want == nil {
				if err != nil || resp == nil || resp.Status != Good {
					t.Fatalf("got %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := Check(ca.OCSP(t, leaf, pkitest.OCSPOptions{}), leaf.Certificate, nil, now); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nil issuer: %v", err)
	}
	resp, _ := Check(ca.OCSP(t, leaf, pkitest.OCSPOptions{Signer: shortSigner}), leaf.Certificate, ca.Certificate, now)
	if got := validUntil(resp); !got.Equal(shortSigner.Certificate.NotAfter) {
		t.Fatalf("validUntil %v, want the signer's expiry", got)
	}
	if at := refreshAt(resp); !at.Before(shortSigner.Certificate.NotAfter) || !at.After(resp.ThisUpdate) {
		t.Fatalf("refreshAt %v", at)
	}
}
