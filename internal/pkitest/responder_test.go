package pkitest

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/crypto/ocsp"
)

// fetch asks the responder at base about cert by POST or GET (RFC 6960
// appendix A.1) and returns the raw answer.
func fetch(t *testing.T, base, method string, cert, issuer *x509.Certificate, hash crypto.Hash) []byte {
	t.Helper()
	req, err := ocsp.CreateRequest(cert, issuer, &ocsp.RequestOptions{Hash: hash})
	if err != nil {
		t.Fatal(err)
	}
	var resp *http.Response
	if method == http.MethodPost {
		resp, err = http.Post(base, "application/ocsp-request", bytes.NewReader(req))
	} else {
		resp, err = http.Get(base + "/" + url.PathEscape(base64.StdEncoding.EncodeToString(req)))
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: HTTP %s", method, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/ocsp-response" {
		t.Errorf("Content-Type %q", ct)
	}
	return body
}

func TestOCSPResponder(t *testing.T) {
	ca := NewCA(t, ECDSA)
	in := ca.NewIntermediate(t, ECDSA)
	r := StartOCSPResponder(t, in, ca)
	leaf := in.Issue(t, Leaf{Names: []string{"mx.example.test"}, OCSPURL: r.URL()})
	if leaf.Certificate.OCSPServer[0] != r.URL() {
		t.Fatal("AIA does not name the responder")
	}

	status := func(method string, cert, issuer *x509.Certificate, hash crypto.Hash) *ocsp.Response {
		t.Helper()
		resp, err := ocsp.ParseResponseForCert(fetch(t, r.URL(), method, cert, issuer, hash), cert, issuer)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		return resp
	}
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		if got := status(method, leaf.Certificate, in.Certificate, 0).Status; got != ocsp.Good {
			t.Errorf("%s: status %d, want good", method, got)
		}
	}
	if resp := status(http.MethodGet, leaf.Certificate, in.Certificate, crypto.SHA256); resp.IssuerHash != crypto.SHA256 {
		t.Errorf("answered a SHA-256 CertID with %v", resp.IssuerHash)
	}
	// The root's certificates too: the intermediate itself.
	if got := status(http.MethodPost, in.Certificate, ca.Certificate, 0).Status; got != ocsp.Good {
		t.Errorf("intermediate: status %d, want good", got)
	}

	r.Set(leaf, OCSPOptions{Status: ocsp.Revoked, RevocationReason: ocsp.Superseded})
	if resp := status(http.MethodPost, leaf.Certificate, in.Certificate, 0); resp.Status != ocsp.Revoked || resp.RevocationReason != ocsp.Superseded {
		t.Errorf("after Set: status %d reason %d, want revoked, superseded", resp.Status, resp.RevocationReason)
	}
	r.SetStatus(leaf, ocsp.Unknown)
	if got := status(http.MethodGet, leaf.Certificate, in.Certificate, 0).Status; got != ocsp.Unknown {
		t.Errorf("after SetStatus: status %d, want unknown", got)
	}
	signer := in.NewOCSPSigner(t, Leaf{})
	r.Set(leaf, OCSPOptions{Signer: signer})
	if resp := status(http.MethodPost, leaf.Certificate, in.Certificate, 0); resp.Certificate == nil || !resp.Certificate.Equal(signer.Certificate) {
		t.Error("delegated answer does not carry the signer")
	}

	// RFC 6960 section 2.2: a serial the CA never issued is unknown.
	stranger := &x509.Certificate{SerialNumber: big.NewInt(42)}
	resp, err := ocsp.ParseResponseForCert(fetch(t, r.URL(), http.MethodPost, stranger, in.Certificate, 0), stranger, in.Certificate)
	if err != nil || resp.Status != ocsp.Unknown {
		t.Errorf("never issued: %v, %v, want unknown", resp, err)
	}
	// RFC 6960 section 2.3: an issuer it does not serve is unauthorized.
	other := NewCA(t, ECDSA)
	otherLeaf := other.Issue(t, Leaf{})
	_, err = ocsp.ParseResponse(fetch(t, r.URL(), http.MethodPost, otherLeaf.Certificate, other.Certificate, 0), nil)
	var re ocsp.ResponseError
	if !errors.As(err, &re) || re.Status != ocsp.Unauthorized {
		t.Errorf("foreign issuer: %v, want unauthorized", err)
	}
	// Garbage is a malformed request.
	httpResp, err := http.Post(r.URL(), "application/ocsp-request", bytes.NewReader([]byte("hello")))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(httpResp.Body)
	httpResp.Body.Close()
	if _, err := ocsp.ParseResponse(body, nil); !errors.As(err, &re) || re.Status != ocsp.Malformed {
		t.Errorf("garbage: %v, want malformed", err)
	}

	before := r.Requests()
	r.SetUnavailable(true)
	httpResp, err = http.Post(r.URL(), "application/ocsp-request", nil)
	if err != nil {
		t.Fatal(err)
	}
	httpResp.Body.Close()
	if httpResp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("unavailable: HTTP %d", httpResp.StatusCode)
	}
	r.SetUnavailable(false)
	if got := status(http.MethodPost, leaf.Certificate, in.Certificate, 0).Status; got != ocsp.Good {
		t.Errorf("available again: status %d", got)
	}
	if got := r.Requests(); got != before+2 || before != 10 {
		t.Errorf("Requests() = %d after %d, want 10 then 12", got, before)
	}
}
