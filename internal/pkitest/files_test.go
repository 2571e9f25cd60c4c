package pkitest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

func TestWriteFiles(t *testing.T) {
	ca := NewCA(t, RSA)
	in := ca.NewIntermediate(t, ECDSA)
	leaf := in.Issue(t, Leaf{Names: []string{"mx.example.test"}, Key: RSA})
	dir := t.TempDir() + "/pki"
	f := leaf.WriteFiles(t, dir)

	pair, err := tls.LoadX509KeyPair(f.FullChain, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	if len(pair.Certificate) != 2 || !bytes.Equal(pair.Certificate[0], leaf.DER()) || !pair.Leaf.Equal(leaf.Certificate) {
		t.Error("fullchain.pem does not hold leaf and intermediate")
	}
	if _, err := tls.LoadX509KeyPair(f.Cert, f.Key); err != nil {
		t.Error(err)
	}
	for path, want := range map[string][]byte{f.CA: ca.DER(), f.Chain: in.DER(), f.Cert: leaf.DER()} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		block, rest := pem.Decode(data)
		if block == nil || block.Type != "CERTIFICATE" || !bytes.Equal(block.Bytes, want) || len(rest) != 0 {
			t.Errorf("%s does not hold exactly the expected certificate", path)
		}
	}
	if st, err := os.Stat(f.Key); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key.pem mode %v, %v", st.Mode(), err)
	}
	if len(ca.Issue(t, Leaf{}).ChainPEM()) != 0 {
		t.Error("chain of a certificate issued by the root is not empty")
	}
}

// TestOpenSSLVerify checks the files with OpenSSL, as peers will read them.
func TestOpenSSLVerify(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl is needed: %v", err)
	}
	ca := NewCA(t, ECDSA)
	in := ca.NewIntermediate(t, RSA).NewIntermediate(t, ECDSA)
	for _, tc := range []struct {
		name string
		leaf Leaf
		ok   bool
	}{
		{"valid", Leaf{Names: []string{"mx.example.test"}, MustStaple: true, OCSPURL: "http://127.0.0.1:9/"}, true},
		{"expired", Leaf{Names: []string{"mx.example.test"}, Expired: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := in.Issue(t, tc.leaf).WriteFiles(t, t.TempDir())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, openssl, "verify", "-CAfile", f.CA, "-untrusted", f.Chain, f.Cert).CombinedOutput()
			if tc.ok && err != nil {
				t.Fatalf("openssl verify: %v\n%s", err, out)
			}
			if !tc.ok && (err == nil || !bytes.Contains(out, []byte("expired"))) {
				t.Fatalf("openssl verify of an expired certificate: %v\n%s", err, out)
			}
		})
	}
}

// TestOpenSSLOCSP checks OCSP responses with `openssl ocsp`, the checker
// of the stapling interop tests: OpenSSL accepts the CA's and the
// delegate's responses and rejects the wrong issuer's and those of a
// responder without id-kp-OCSPSigning (RFC 6960 section 4.2.2.2).
func TestOpenSSLOCSP(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl is needed: %v", err)
	}
	in := NewCA(t, ECDSA).NewIntermediate(t, RSA)
	leaf := in.Issue(t, Leaf{Names: []string{"mx.example.test"}})
	dir := t.TempDir()
	f := leaf.WriteFiles(t, dir)
	issuer := filepath.Join(dir, "issuer.pem")
	if err := os.WriteFile(issuer, in.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts OCSPOptions
		want string // in the output; "" = verification fails
	}{
		{"good", OCSPOptions{}, "cert.pem: good"},
		{"revoked", OCSPOptions{Status: ocsp.Revoked, RevocationReason: ocsp.KeyCompromise}, "Reason: keyCompromise"},
		{"delegated", OCSPOptions{Signer: in.NewOCSPSigner(t, Leaf{})}, "cert.pem: good"},
		{"wrong issuer", OCSPOptions{WrongIssuer: true}, ""},
		{"delegate without EKU", OCSPOptions{Signer: in.Issue(t, Leaf{})}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := filepath.Join(t.TempDir(), "resp.der")
			if err := os.WriteFile(resp, in.OCSP(t, leaf, tc.opts), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, _ := exec.CommandContext(ctx, openssl, "ocsp", "-respin", resp, "-issuer", issuer,
				"-cert", f.Cert, "-CAfile", f.CA, "-verify_other", f.Chain).CombinedOutput()
			verified := bytes.Contains(out, []byte("Response verify OK"))
			if tc.want == "" && verified || tc.want != "" && (!verified || !bytes.Contains(out, []byte(tc.want))) {
				t.Fatalf("openssl ocsp, want %q:\n%s", tc.want, out)
			}
		})
	}
}
