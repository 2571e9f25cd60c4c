package ocsp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/pkitest"
)

func TestStaplerFile(t *testing.T) {
	ca := pkitest.NewCA(t, pkitest.ECDSA)
	in := ca.NewIntermediate(t, pkitest.ECDSA)
	leaf := in.Issue(t, pkitest.Leaf{Names: []string{"mx.example.test"}})
	cert := leaf.TLS()
	file := filepath.Join(t.TempDir(), "staple.der")
	s := NewStapler(nil)
	if err := s.Add(&cert, nil, file); err != nil {
		t.Fatal(err)
	}
	srv := &tls.Config{GetCertificate: s.GetCertificate}
	checker := &Checker{Mode: Request}
	cli := checker.TLSConfig(&tls.Config{RootCAs: ca.Pool(), ServerName: "mx.example.test"})

	staple := func() []byte {
		t.Helper()
		st, err := tlsSession(t, srv, cli)
		if err != nil {
			t.Fatal(err)
		}
		return st.OCSPResponse
	}
	if got := staple(); got != nil {
		t.Fatal("stapled without a file")
	}
	good := in.OCSP(t, leaf, pkitest.OCSPOptions{})
	if err := writeAtomic(file, good); err != nil {
		t.Fatal(err)
	}
	if got := staple(); !bytes.Equal(got, good) || checker.Result().Status != "good" {
		t.Fatalf("good response not stapled: %v", checker.Result())
	}
	if cert.OCSPStaple != nil {
		t.Fatal("the shared certificate was modified")
	}
	for name, der := range map[string][]byte{
		"revoked":      in.OCSP(t, leaf, pkitest.OCSPOptions{Status: Revoked}),
		"expired":      in.OCSP(t, leaf, pkitest.OCSPOptions{Expired: true}),
		"unknown":      in.OCSP(t, leaf, pkitest.OCSPOptions{Status: Unknown}),
		"wrong issuer": in.OCSP(t, leaf, pkitest.OCSPOptions{WrongIssuer: true}),
		"garbage":      []byte("garbage"),
	} {
		if err := writeAtomic(file, der); err != nil {
			t.Fatal(err)
		}
		if got := staple(); got != nil {
			t.Errorf("%s: stapled", name)
		}
	}
	// Back to good, and then the response expires while the file stays.
	if err := writeAtomic(file, good); err != nil {
		t.Fatal(err)
	}
	if got := staple(); !bytes.Equal(got, good) {
		t.Fatal("good response not stapled again")
	}
	s.now = func() time.Time { return time.Now().Add(48 * time.Hour) }
	if got, _ := s.GetCertificate(&tls.ClientHelloInfo{}); got.OCSPStaple != nil {
		t.Fatal("stapled after nextUpdate")
	}
	os.Remove(file)
	s.now = time.Now
	if got, _ := s.GetCertificate(&tls.ClientHelloInfo{}); got.OCSPStaple != nil {
		t.Fatal("stapled after the file was removed")
	}
}

func TestStaplerSNI(t *testing.T) {
	ca := pkitest.NewCA(t, pkitest.ECDSA)
	a := ca.Issue(t, pkitest.Leaf{Names: []string{"a.example.test"}})
	b := ca.Issue(t, pkitest.Leaf{Names: []string{"b.example.test"}})
	dir := t.TempDir()
	s := NewStapler(nil)
	for _, c := range []*pkitest.Cert{a, b} {
		tc := c.TLS()
		f := filepath.Join(dir, c.Certificate.DNSNames[0])
		if err := s.Add(&tc, ca.Certificate, f); err != nil {
			t.Fatal(err)
		}
		if err := writeAtomic(f, ca.OCSP(t, c, pkitest.OCSPOptions{})); err != nil {
			t.Fatal(err)
		}
	}
	srv := &tls.Config{GetCertificate: s.GetCertificate}
	for _, name := range []string{"a.example.test", "b.example.test"} {
		chk := &Checker{Mode: Require}
		st, err := tlsSession(t, srv, chk.TLSConfig(&tls.Config{RootCAs: ca.Pool(), ServerName: name}))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if st.PeerCertificates[0].DNSNames[0] != name || chk.Result().Status != "good" {
			t.Fatalf("%s: got %s, %v", name, st.PeerCertificates[0].DNSNames[0], chk.Result())
		}
	}
	// Adding a certificate whose issuer is unknown fails.
	tc := a.TLS()
	if err := s.Add(&tc, nil, "x"); err == nil {
		t.Fatal("added without an issuer")
	}
	other := pkitest.NewCA(t, pkitest.ECDSA)
	if err := s.Add(&tc, other.Certificate, "x"); err == nil {
		t.Fatal("added with the wrong issuer")
	}
}

func TestClientModes(t *testing.T) {
	ca := pkitest.NewCA(t, pkitest.ECDSA)
	in := ca.NewIntermediate(t, pkitest.ECDSA)
	leaf := in.Issue(t, pkitest.Leaf{Names: []string{"mx.example.test"}})
	for _, tc := range []struct {
		name     string
		staple   []byte
		mode     Mode
		wantErr  error
		status   string
		skipPKIX bool
	}{
		{"require good", in.OCSP(t, leaf, pkitest.OCSPOptions{}), Require, nil, "good", false},
		{"require good, no PKIX (DANE)", in.OCSP(t, leaf, pkitest.OCSPOptions{}), Require, nil, "good", true},
		{"require missing", nil, Require, ErrNoStaple, "none", false},
		{"require revoked", in.OCSP(t, leaf, pkitest.OCSPOptions{Status: Revoked}), Require, ErrRevoked, "revoked", false},
		{"require expired", in.OCSP(t, leaf, pkitest.OCSPOptions{Expired: true}), Require, ErrStale, "invalid", false},
		{"request missing", nil, Request, nil, "none", false},
		{"request good", in.OCSP(t, leaf, pkitest.OCSPOptions{}), Request, nil, "good", false},
		{"request revoked", in.OCSP(t, leaf, pkitest.OCSPOptions{Status: Revoked}), Request, ErrRevoked, "revoked", false},
		{"request unknown", in.OCSP(t, leaf, pkitest.OCSPOptions{Status: Unknown}), Request, ErrUnknown, "unknown", false},
		{"request bad signature", in.OCSP(t, leaf, pkitest.OCSPOptions{WrongIssuer: true}), Request, ErrInvalid, "invalid", false},
		{"off revoked", in.OCSP(t, leaf, pkitest.OCSPOptions{Status: Revoked}), Off, nil, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert := leaf.TLS()
			cert.OCSPStaple = tc.staple
			chk := &Checker{Mode: tc.mode}
			cli := chk.TLSConfig(&tls.Config{RootCAs: ca.Pool(), ServerName: "mx.example.test", InsecureSkipVerify: tc.skipPKIX})
			_, err := tlsSession(t, &tls.Config{Certificates: []tls.Certificate{cert}}, cli)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if r := chk.Result(); r.Status != tc.status {
				t.Fatalf("result %+v", r)
			}
		})
	}
}

func TestClientResumedSession(t *testing.T) {
	ca := pkitest.NewCA(t, pkitest.ECDSA)
	leaf := ca.Issue(t, pkitest.Leaf{Names: []string{"mx.example.test"}})
	cert := leaf.TLS()
	cert.OCSPStaple = ca.OCSP(t, leaf, pkitest.OCSPOptions{})
	srv := &tls.Config{Certificates: []tls.Certificate{cert}}
	now := time.Now()
	chk := &Checker{Mode: Require, Now: func() time.Time { return now }}
	cli := chk.TLSConfig(&tls.Config{RootCAs: ca.Pool(), ServerName: "mx.example.test", ClientSessionCache: tls.NewLRUClientSessionCache(4)})
	if _, err := tlsSession(t, srv, cli); err != nil {
		t.Fatal(err)
	}
	st, err := tlsSession(t, srv, cli)
	if err != nil || !st.DidResume {
		t.Fatalf("resumption: %v %v", err, st.DidResume)
	}
	// A day later the resumed session carries the old staple: refused.
	now = now.Add(25 * time.Hour)
	srv.Time = func() time.Time { return now }
	if _, err := tlsSession(t, srv, cli); !errors.Is(err, ErrStale) {
		t.Fatalf("stale staple on resumption: %v (%+v)", err, chk.Result())
	}
}

func TestWithDANE(t *testing.T) {
	if WithDANE(Require, 1<<3) != Off || WithDANE(Require, 1<<2|1<<3) != Require || WithDANE(Request, 0) != Request {
		t.Fatal("WithDANE")
	}
	for s, m := range map[string]Mode{"off": Off, "request": Request, "REQUIRE": Require} {
		if got, err := ParseMode(s); err != nil || got != m {
			t.Errorf("%s: %v %v", s, got, err)
		}
	}
	if _, err := ParseMode("yes"); err == nil {
		t.Error("bad mode accepted")
	}
}

func TestRefresher(t *testing.T) {
	ca := pkitest.NewCA(t, pkitest.ECDSA)
	resp := pkitest.StartOCSPResponder(t, ca)
	leaf := ca.Issue(t, pkitest.Leaf{Names: []string{"mx.example.test"}, OCSPURL: resp.URL()})
	cert := leaf.TLS()
	file := filepath.Join(t.TempDir(), "staple.der")
	r := &Refresher{Certificate: &cert, Issuer: ca.Certificate, File: file}
	ctx := context.Background()

	next, err := r.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	der, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Check(der, leaf.Certificate, ca.Certificate, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := got.ThisUpdate.Add(got.NextUpdate.Sub(got.ThisUpdate) / 2); !next.Equal(want) {
		t.Fatalf("next fetch %v, want %v", next, want)
	}
	r.GET = true
	if _, err := r.Refresh(ctx); err != nil {
		t.Fatalf("GET: %v", err)
	}

	// Responder down: the file stays.
	resp.SetUnavailable(true)
	if _, err := r.Refresh(ctx); err == nil {
		t.Fatal("no error from an unavailable responder")
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatal("file lost after a failed fetch")
	}
	resp.SetUnavailable(false)
	// An expired response is never written.
	before, _ := os.ReadFile(file)
	resp.Set(leaf, pkitest.OCSPOptions{Expired: true})
	if _, err := r.Refresh(ctx); !errors.Is(err, ErrStale) {
		t.Fatalf("expired: %v", err)
	}
	if after, _ := os.ReadFile(file); !bytes.Equal(before, after) {
		t.Fatal("file replaced by an expired response")
	}
	// Revoked: the file goes.
	resp.SetStatus(leaf, Revoked)
	if _, err := r.Refresh(ctx); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked: %v", err)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("file kept for a revoked certificate")
	}

	// Run fetches at once when the file is missing, and stops with ctx.
	resp.SetStatus(leaf, Good)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- r.Run(rctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(file); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run wrote no file")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// No responder named: normal.
	plain := ca.Issue(t, pkitest.Leaf{Names: []string{"mx.example.test"}}).TLS()
	r2 := &Refresher{Certificate: &plain, Issuer: ca.Certificate, File: file}
	if _, err := r2.Refresh(ctx); !errors.Is(err, ErrNoResponder) {
		t.Fatalf("no URL: %v", err)
	}
	if err := r2.Run(ctx); err != nil {
		t.Fatalf("Run without URL: %v", err)
	}
}
