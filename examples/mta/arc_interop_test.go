//go:build interop

package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/internal/interop"
)

// Exim relays a message to the MTA, which verifies it, adds its
// Authentication-Results, seals it (-arc-sign) and relays it to a second
// Exim; dkimpy's ARC verification of what that Exim stored says pass.
func TestInteropARCSealVerifiedByDkimpy(t *testing.T) {
	rec, keyFile := rsaKey(t) // dkimpy 1.1 cannot verify Ed25519 ARC seals
	exim2 := interop.StartExim(t, "")
	dns := dnstest.Start(t,
		dnstest.Zone{Name: "dest.test", Text: "@ MX 10 mx\nmx A 127.0.0.1"},
		dnstest.Zone{Name: "relay.test", Text: "arc._domainkey TXT " + rec},
	)
	_, addr, _ := startBinary(t, "-dns", dns.Addr(), "-remote-port", strconv.Itoa(exim2.Port), "-retry", "1s",
		"-arc-verify", "-arc-sign", "relay.test:arc:"+keyFile+":timestamps")
	host, portStr, _ := strings.Cut(addr, ":")
	port, _ := strconv.Atoi(portStr)
	log := interop.EximSend(t, host, port, "author@origin.test", []string{"reader@dest.test"},
		"From: <author@origin.test>\nTo: <reader@dest.test>\nSubject: sealed on the way\n\nARC body\n")
	if !strings.Contains(log, "=> reader@dest.test") {
		t.Fatalf("first Exim did not hand over:\n%s", log)
	}
	stored := exim2.WaitMessages(1, 30*time.Second)[0]
	if !strings.Contains(stored, "ARC-Seal: i=1;") {
		t.Fatalf("no ARC set on the stored message:\n%s", stored)
	}
	crlf := strings.ReplaceAll(stored, "\n", "\r\n")
	if cv, line := interop.DkimpyARCVerify(t, dns.Addr(), crlf); cv != "pass" {
		t.Fatalf("dkimpy says %q:\n%s", line, stored)
	}
}

// rsaKey makes an RSA-2048 key file and its DKIM key record, as zone
// text character-strings.
func rsaKey(t *testing.T) (record, file string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(t.TempDir(), "arc-rsa.pem")
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(file, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	v := "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	var parts []string
	for len(v) > 255 {
		parts = append(parts, `"`+v[:255]+`"`)
		v = v[255:]
	}
	return strings.Join(append(parts, `"`+v+`"`), " "), file
}
