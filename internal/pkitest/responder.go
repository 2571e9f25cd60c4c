package pkitest

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ocsp"
)

// maxOCSPRequest bounds the request body the responder reads; a request
// for one certificate is about a hundred octets.
const maxOCSPRequest = 64 << 10

// OCSPResponder is an OCSP responder over HTTP on 127.0.0.1 (RFC 6960
// appendix A) for the certificates of one or more CAs. It answers every
// request with a freshly signed response: "good" for certificates the CA
// issued unless [OCSPResponder.Set] says otherwise, "unknown" for serials it
// never issued, and "unauthorized" for issuers it does not serve (RFC 6960
// section 2.3).
type OCSPResponder struct {
	srv      *httptest.Server
	cas      []*CA
	requests atomic.Int64

	mu          sync.Mutex
	opts        map[ocspKey]OCSPOptions
	unavailable bool
}

type ocspKey struct {
	ca     *CA
	serial string
}

// StartOCSPResponder starts an OCSP responder for the certificates issued by
// cas. It is closed when the test ends; with a nil t the caller must call
// [OCSPResponder.Close].
func StartOCSPResponder(t testing.TB, cas ...*CA) *OCSPResponder {
	helper(t)
	if len(cas) == 0 {
		check(t, errors.New("pkitest: OCSP responder without a CA"))
		return nil
	}
	r := &OCSPResponder{cas: cas, opts: make(map[ocspKey]OCSPOptions)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	if t != nil {
		t.Cleanup(r.Close)
	}
	return r
}

// URL returns the responder's address, e.g. "http://127.0.0.1:41234", for
// [Leaf.OCSPURL]. It answers POST to this URL and GET of URL + "/" +
// base64 request (RFC 6960 appendix A.1).
func (r *OCSPResponder) URL() string { return r.srv.URL }

// Set makes the responder answer for c (issued by one of its CAs) with
// responses built from o.
func (r *OCSPResponder) Set(c *Cert, o OCSPOptions) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opts[ocspKey{c.Issuer, c.Certificate.SerialNumber.String()}] = o
}

// SetStatus makes the responder answer for c with status (ocsp.Good,
// ocsp.Revoked or ocsp.Unknown) and otherwise default options.
func (r *OCSPResponder) SetStatus(c *Cert, status int) {
	r.Set(c, OCSPOptions{Status: status})
}

// SetUnavailable makes the responder answer every request with HTTP 503
// while on is true, to test clients that keep their last good response.
func (r *OCSPResponder) SetUnavailable(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unavailable = on
}

// Requests returns the number of HTTP requests received so far, answered
// or not.
func (r *OCSPResponder) Requests() int { return int(r.requests.Load()) }

// Close stops the responder and waits for requests in progress.
func (r *OCSPResponder) Close() { r.srv.Close() }

func (r *OCSPResponder) serve(w http.ResponseWriter, req *http.Request) {
	r.requests.Add(1)
	r.mu.Lock()
	unavailable := r.unavailable
	r.mu.Unlock()
	if unavailable {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}

	var der []byte
	switch req.Method {
	case http.MethodGet:
		// RFC 6960 appendix A.1: GET {url}/{url-encoding of base-64
		// encoding of the DER encoding of the OCSPRequest}. The server
		// has undone the URL encoding already.
		b64 := strings.TrimLeft(req.URL.Path, "/")
		var err error
		if der, err = base64.StdEncoding.DecodeString(b64); err != nil {
			der = nil // not an OCSPRequest: malformed, below
		}
	case http.MethodPost:
		var err error
		if der, err = io.ReadAll(io.LimitReader(req.Body, maxOCSPRequest)); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}

	// RFC 6960 appendix A.2: the answer is an OCSPResponse, also for the
	// exception cases of RFC 6960 section 2.3.
	w.Header().Set("Content-Type", "application/ocsp-response")
	ocspReq, err := ocsp.ParseRequest(der)
	if err != nil {
		_, _ = w.Write(ocsp.MalformedRequestErrorResponse)
		return
	}
	ca := r.issuerOf(ocspReq)
	if ca == nil {
		_, _ = w.Write(ocsp.UnauthorizedErrorResponse)
		return
	}
	resp, err := ca.ocspResponse(ocspReq.SerialNumber, r.options(ca, ocspReq))
	if err != nil {
		_, _ = w.Write(ocsp.InternalErrorErrorResponse)
		return
	}
	_, _ = w.Write(resp)
}

// options returns what to answer about the request's certificate, issued
// by ca.
func (r *OCSPResponder) options(ca *CA, req *ocsp.Request) OCSPOptions {
	r.mu.Lock()
	o, ok := r.opts[ocspKey{ca, req.SerialNumber.String()}]
	r.mu.Unlock()
	if !ok && !ca.hasIssued(req.SerialNumber) {
		o.Status = ocsp.Unknown
	}
	if o.IssuerHash == 0 {
		// Answer with the CertID hash of the request, which clients
		// compare.
		o.IssuerHash = req.HashAlgorithm
	}
	return o
}

// issuerOf returns the CA the request's CertID names (RFC 6960 section
// 4.1.1: hashes of the issuer's DN and of its public key), or nil.
func (r *OCSPResponder) issuerOf(req *ocsp.Request) *CA {
	if !req.HashAlgorithm.Available() {
		return nil
	}
	for _, ca := range r.cas {
		h := req.HashAlgorithm.New()
		h.Write(ca.Certificate.RawSubject)
		if !bytes.Equal(h.Sum(nil), req.IssuerNameHash) {
			continue
		}
		key, err := publicKeyBits(ca.Certificate)
		if err != nil {
			continue
		}
		h.Reset()
		h.Write(key)
		if bytes.Equal(h.Sum(nil), req.IssuerKeyHash) {
			return ca
		}
	}
	return nil
}

// publicKeyBits returns the subjectPublicKey BIT STRING contents of cert,
// which issuerKeyHash covers (RFC 6960 section 4.1.1), excluding the tag,
// length and unused-bits octet.
func publicKeyBits(cert *x509.Certificate) ([]byte, error) {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(cert.RawSubjectPublicKeyInfo, &spki); err != nil {
		return nil, err
	}
	return spki.PublicKey.RightAlign(), nil
}
