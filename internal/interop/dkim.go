package interop

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// DKIMKey is an RSA key for dkimpy's dkimsign (Debian's python3-dkim).
type DKIMKey struct {
	// File is the PEM private key, in the test's temporary directory.
	File string
	// Record is the TXT data of the key record, zone file syntax: the
	// "v=DKIM1; k=rsa; p=..." text in strings of at most 255 bytes.
	Record string
}

// NewDKIMKey makes a 2048-bit RSA key and writes it for dkimsign.
func NewDKIMKey(t testing.TB) *DKIMKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	text := "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(pub)
	var parts []string
	for len(text) > 0 {
		n := min(200, len(text))
		parts = append(parts, `"`+text[:n]+`"`)
		text = text[n:]
	}
	return &DKIMKey{File: file, Record: strings.Join(parts, " ")}
}

// Sign has dkimsign sign msg for domain with selector; opts are
// dkimsign's options (--hcanon, --bcanon, ...). It returns the message
// with the DKIM-Signature field on top and CRLF line ends, as SMTP
// carries it.
func (k *DKIMKey) Sign(t testing.TB, msg, selector, domain string, opts ...string) string {
	t.Helper()
	Need(t, "dkimsign")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append(append([]string(nil), opts...), selector, domain, k.File)
	cmd := exec.CommandContext(ctx, "dkimsign", args...)
	cmd.Stdin = strings.NewReader(msg)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("dkimsign: %v\n%s", err, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "DKIM-Signature:") {
		t.Fatalf("dkimsign output:\n%s%s", out.String(), errOut.String())
	}
	// dkimsign passes the message through as given.
	s := strings.ReplaceAll(out.String(), "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}
