package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/internal/pkitest"
)

// The printed 3 1 1 record is what the openssl pipeline of Exim's
// documentation prints: SHA-256 of the DER SubjectPublicKeyInfo.
func TestMatchesOpenSSLPipeline(t *testing.T) {
	ca := pkitest.NewCA(t, pkitest.ECDSA)
	leaf := ca.Issue(t, pkitest.Leaf{Names: []string{"mx.example.test"}})
	files := leaf.WriteFiles(t, t.TempDir())
	sum := sha256.Sum256(leaf.SPKI())
	want := "3 1 1 " + hex.EncodeToString(sum[:])

	for _, file := range []string{files.Cert, files.Key} {
		var out bytes.Buffer
		if err := run([]string{file}, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(out.String()); got != want {
			t.Fatalf("%s: %q, want %q", filepath.Base(file), got, want)
		}
	}
	// openssl x509 -pubkey | openssl pkey -pubin -outform DER | sha256
	pipe := "openssl x509 -in " + files.Cert + " -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -hex"
	out, err := exec.Command("sh", "-c", pipe).Output()
	if err != nil {
		t.Fatalf("openssl pipeline: %v", err)
	}
	if f := strings.Fields(string(out)); len(f) == 0 || "3 1 1 "+f[len(f)-1] != want {
		t.Fatalf("openssl says %q, we say %q", out, want)
	}

	var named bytes.Buffer
	if err := run([]string{"-usage", "2", "-name", "mx.example.test", files.CA}, &named, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(named.String(), "_25._tcp.mx.example.test. IN TLSA 2 1 1 ") {
		t.Fatalf("named: %q", named.String())
	}
	if err := run([]string{"-selector", "0", files.Key}, io.Discard, io.Discard); err == nil {
		t.Fatal("selector 0 from a key accepted")
	}
	if err := run(nil, io.Discard, io.Discard); err == nil {
		t.Fatal("no file accepted")
	}
}
