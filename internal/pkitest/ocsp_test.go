package pkitest

import (
	"crypto"
	"crypto/x509"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

func TestOCSPResponses(t *testing.T) {
	ca := NewCA(t, RSA)
	in := ca.NewIntermediate(t, ECDSA)
	leaf := in.Issue(t, Leaf{Names: []string{"mx.example.test"}})
	signer := in.NewOCSPSigner(t, Leaf{})
	revokedAt := time.Now().Add(-3 * time.Hour).Truncate(time.Second)

	for _, tc := range []struct {
		name string
		opts OCSPOptions
		want int
	}{
		{"good", OCSPOptions{}, ocsp.Good},
		{"revoked", OCSPOptions{Status: ocsp.Revoked, RevokedAt: revokedAt, RevocationReason: ocsp.KeyCompromise}, ocsp.Revoked},
		{"unknown", OCSPOptions{Status: ocsp.Unknown}, ocsp.Unknown},
		{"delegated", OCSPOptions{Signer: signer}, ocsp.Good},
		{"sha256", OCSPOptions{IssuerHash: crypto.SHA256}, ocsp.Good},
	} {
		t.Run(tc.name, func(t *testing.T) {
			der := in.OCSP(t, leaf, tc.opts)
			resp, err := ocsp.ParseResponseForCert(der, leaf.Certificate, in.Certificate)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != tc.want || resp.SerialNumber.Cmp(leaf.Certificate.SerialNumber) != 0 {
				t.Errorf("status %d serial %v, want %d %v", resp.Status, resp.SerialNumber, tc.want, leaf.Certificate.SerialNumber)
			}
			now := time.Now()
			if !resp.ThisUpdate.Before(now) || !resp.NextUpdate.After(now) {
				t.Errorf("window %v..%v does not hold now", resp.ThisUpdate, resp.NextUpdate)
			}
			if tc.want == ocsp.Revoked && (!resp.RevokedAt.Equal(revokedAt) || resp.RevocationReason != ocsp.KeyCompromise) {
				t.Errorf("revoked at %v reason %d", resp.RevokedAt, resp.RevocationReason)
			}
			if tc.opts.IssuerHash != 0 && resp.IssuerHash != tc.opts.IssuerHash {
				t.Errorf("issuer hash %v", resp.IssuerHash)
			}
			if tc.opts.Signer == nil {
				if resp.Certificate != nil {
					t.Error("response signed by the CA carries a certificate")
				}
				return
			}
			// RFC 6960 section 4.2.2.2: the delegate is issued by the
			// CA and has id-kp-OCSPSigning.
			d := resp.Certificate
			if d == nil || !d.Equal(signer.Certificate) {
				t.Fatal("delegated response does not carry the signer certificate")
			}
			if len(d.ExtKeyUsage) != 1 || d.ExtKeyUsage[0] != x509.ExtKeyUsageOCSPSigning {
				t.Errorf("signer EKU %v", d.ExtKeyUsage)
			}
			var nocheck bool
			for _, ext := range d.Extensions {
				nocheck = nocheck || ext.Id.Equal(oidOCSPNoCheck)
			}
			if !nocheck {
				t.Error("signer lacks id-pkix-ocsp-nocheck")
			}
			if err := d.CheckSignatureFrom(in.Certificate); err != nil {
				t.Errorf("signer not issued by the CA: %v", err)
			}
		})
	}
}

func TestOCSPWrongIssuer(t *testing.T) {
	in := NewCA(t, ECDSA).NewIntermediate(t, RSA)
	leaf := in.Issue(t, Leaf{})
	for _, opts := range []OCSPOptions{{WrongIssuer: true}, {WrongIssuer: true, Signer: in.NewOCSPSigner(t, Leaf{})}} {
		der := in.OCSP(t, leaf, opts)
		if _, err := ocsp.ParseResponseForCert(der, leaf.Certificate, in.Certificate); err == nil {
			t.Error("response from the wrong issuer accepted")
		}
		// Only the signature is wrong: without an issuer it parses.
		resp, err := ocsp.ParseResponseForCert(der, leaf.Certificate, nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(resp.RawResponderName) != string(in.Certificate.RawSubject) || resp.Certificate != nil {
			t.Error("wrong-issuer response does not look like one by the CA")
		}
		if resp.SignatureAlgorithm != x509.SHA256WithRSA {
			t.Errorf("wrong issuer signs with %v, want the CA's SHA256-RSA", resp.SignatureAlgorithm)
		}
	}
	// A response by a delegate of another CA does not verify either.
	other := NewCA(t, ECDSA)
	der := in.OCSP(t, leaf, OCSPOptions{Signer: other.NewOCSPSigner(t, Leaf{})})
	if _, err := ocsp.ParseResponseForCert(der, leaf.Certificate, in.Certificate); err == nil {
		t.Error("response by another CA's delegate accepted")
	}
}

func TestOCSPTimes(t *testing.T) {
	ca := NewCA(t, ECDSA)
	leaf := ca.Issue(t, Leaf{})
	parse := func(o OCSPOptions) *ocsp.Response {
		t.Helper()
		resp, err := ocsp.ParseResponseForCert(ca.OCSP(t, leaf, o), leaf.Certificate, ca.Certificate)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	now := time.Now()
	if r := parse(OCSPOptions{Expired: true}); !r.NextUpdate.Before(now) || !r.ThisUpdate.Before(r.NextUpdate) {
		t.Errorf("expired: window %v..%v", r.ThisUpdate, r.NextUpdate)
	}
	if r := parse(OCSPOptions{NotYetValid: true}); !r.ThisUpdate.After(now) || !r.NextUpdate.After(r.ThisUpdate) {
		t.Errorf("not yet valid: window %v..%v", r.ThisUpdate, r.NextUpdate)
	}
	this, next := now.Add(-10*time.Minute).Truncate(time.Second), now.Add(10*time.Minute).Truncate(time.Second)
	if r := parse(OCSPOptions{ThisUpdate: this, NextUpdate: next}); !r.ThisUpdate.Equal(this) || !r.NextUpdate.Equal(next) {
		t.Errorf("custom: window %v..%v, want %v..%v", r.ThisUpdate, r.NextUpdate, this, next)
	}
}
