//go:build interop

package ocsp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/interop"
	"github.com/smtpkit/smtpkit/internal/pkitest"
)

// sClientStatus runs `openssl s_client -status` against addr and returns
// its output.
func sClientStatus(t *testing.T, addr, caFile string) string {
	t.Helper()
	out, _ := interop.Run(t, 20*time.Second, "sh", "-c",
		fmt.Sprintf("echo Q | openssl s_client -connect %s -servername mx.example.test -status -CAfile %s 2>&1", addr, caFile))
	return out
}

func TestInteropStaplerWithSClient(t *testing.T) {
	interop.Need(t, "openssl")
	ca := pkitest.NewCA(t, pkitest.ECDSA)
	leaf := ca.Issue(t, pkitest.Leaf{Names: []string{"mx.example.test"}})
	dir := t.TempDir()
	files := leaf.WriteFiles(t, dir)
	staple := filepath.Join(dir, "staple.der")
	if err := writeAtomic(staple, ca.OCSP(t, leaf, pkitest.OCSPOptions{})); err != nil {
		t.Fatal(err)
	}
	cert := leaf.TLS()
	st := NewStapler(nil)
	if err := st.Add(&cert, ca.Certificate, staple); err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: st.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()

	out := sClientStatus(t, l.Addr().String(), files.CA)
	if !strings.Contains(out, "OCSP Response Status: successful") || !strings.Contains(out, "Cert Status: good") {
		t.Fatalf("no good staple:\n%s", out)
	}
	for _, o := range []pkitest.OCSPOptions{{Status: Revoked}, {Expired: true}} {
		if err := writeAtomic(staple, ca.OCSP(t, leaf, o)); err != nil {
			t.Fatal(err)
		}
		out = sClientStatus(t, l.Addr().String(), files.CA)
		if !strings.Contains(out, "OCSP response: no response sent") {
			t.Fatalf("%+v stapled:\n%s", o, out)
		}
	}
}

// opensslResponder answers one OCSP request with `openssl ocsp` on port for leaf, good or revoked, signed by a delegated
// responder.
func opensslResponder(t *testing.T, dir string, port int, ca *pkitest.CA, leaf *pkitest.Cert, revoked bool) *interop.Process {
	t.Helper()
	signer := ca.NewOCSPSigner(t, pkitest.Leaf{})
	sf := signer.WriteFiles(t, filepath.Join(dir, "signer"))
	exp := time.Now().Add(30 * 24 * time.Hour).UTC().Format("060102150405Z")
	serial := strings.ToUpper(leaf.Certificate.SerialNumber.Text(16))
	if len(serial)%2 == 1 {
		serial = "0" + serial
	}
	line := fmt.Sprintf("V\t%s\t\t%s\tunknown\t/CN=mx.example.test\n", exp, serial)
	if revoked {
		line = fmt.Sprintf("R\t%s\t%s,keyCompromise\t%s\tunknown\t/CN=mx.example.test\n", exp, time.Now().Add(-time.Hour).UTC().Format("060102150405Z"), serial)
	}
	index := filepath.Join(dir, "index.txt")
	if err := os.WriteFile(index, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "issuer.pem")
	if err := os.WriteFile(caFile, ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	// OpenSSL 3.0's responder takes a port only and binds every
	// interface, as ../shared/recipes/ocsp-pki.sh notes; it answers one
	// request and exits.
	return interop.Start(t, "openssl", "ocsp", "-index", index, "-port", fmt.Sprint(port),
		"-rsigner", sf.Cert, "-rkey", sf.Key, "-CA", caFile, "-ndays", "1", "-nrequest", "1")
}

func TestInteropRefresherWithOpensslOCSP(t *testing.T) {
	interop.Need(t, "openssl")
	ca := pkitest.NewCA(t, pkitest.ECDSA)
	port := interop.FreePort(t)
	leaf := ca.Issue(t, pkitest.Leaf{Names: []string{"mx.example.test"}, OCSPURL: fmt.Sprintf("http://127.0.0.1:%d/", port)})
	dir := t.TempDir()
	staple := filepath.Join(dir, "staple.der")
	cert := leaf.TLS()
	r := &Refresher{Certificate: &cert, Issuer: ca.Certificate, File: staple}

	p := opensslResponder(t, dir, port, ca, leaf, false)
	if err := refreshSoon(r); err != nil {
		t.Fatalf("refresh: %v\n%s", err, p.Output())
	}
	p.Wait(10 * time.Second)
	st := NewStapler(nil)
	if err := st.Add(&cert, ca.Certificate, staple); err != nil {
		t.Fatal(err)
	}
	got, _ := st.GetCertificate(&tls.ClientHelloInfo{})
	if len(got.OCSPStaple) == 0 {
		t.Fatal("the refreshed file is not stapled")
	}

	p = opensslResponder(t, dir, port, ca, leaf, true)
	if err := refreshSoon(r); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked: %v\n%s", err, p.Output())
	}
	p.Wait(10 * time.Second)
	if got, _ := st.GetCertificate(&tls.ClientHelloInfo{}); got.OCSPStaple != nil {
		t.Fatal("stapled after revocation")
	}
}

// refreshSoon refreshes once the responder listens (it answers a single
// connection, so it is not probed beforehand).
func refreshSoon(r *Refresher) error {
	var err error
	for range 100 {
		if _, err = r.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "connection refused") {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

func TestInteropCheckerWithSServer(t *testing.T) {
	interop.Need(t, "openssl")
	ca := pkitest.NewCA(t, pkitest.ECDSA)
	leaf := ca.Issue(t, pkitest.Leaf{Names: []string{"mx.example.test"}})
	dir := t.TempDir()
	files := leaf.WriteFiles(t, dir)
	for _, tc := range []struct {
		name    string
		staple  []byte
		mode    Mode
		wantErr error
	}{
		{"good", ca.OCSP(t, leaf, pkitest.OCSPOptions{}), Require, nil},
		{"revoked", ca.OCSP(t, leaf, pkitest.OCSPOptions{Status: Revoked}), Require, ErrRevoked},
		{"revoked, request", ca.OCSP(t, leaf, pkitest.OCSPOptions{Status: Revoked}), Request, ErrRevoked},
		{"missing", nil, Require, ErrNoStaple},
		{"missing, request", nil, Request, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := interop.FreePort(t)
			args := []string{"s_server", "-accept", fmt.Sprintf("127.0.0.1:%d", port), "-cert", files.Cert, "-key", files.Key, "-quiet"}
			if tc.staple != nil {
				f := filepath.Join(t.TempDir(), "status.der")
				if err := os.WriteFile(f, tc.staple, 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "-status_file", f)
			}
			p := interop.Start(t, "openssl", args...)
			interop.WaitPort(t, interop.Addr(port), 10*time.Second)
			chk := &Checker{Mode: tc.mode}
			c, err := tls.Dial("tcp", interop.Addr(port), chk.TLSConfig(&tls.Config{RootCAs: ca.Pool(), ServerName: "mx.example.test"}))
			if c != nil {
				c.Close()
			}
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v (%+v)\n%s", err, tc.wantErr, chk.Result(), p.Output())
			}
			if tc.staple != nil && !bytes.Equal(chk.Result().Response.Raw, tc.staple) {
				t.Fatal("staple differs")
			}
			t.Logf("%v", chk.Result().LogValue())
		})
	}
}
