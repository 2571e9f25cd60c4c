package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"
	"github.com/smtpkit/smtpkit/arc"
	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// edKey makes an Ed25519 key, its DKIM key record and a PEM file of it.
func edKey(t *testing.T) (ed25519.PrivateKey, string, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "arc.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return priv, `"v=DKIM1; k=ed25519; p=` + base64.StdEncoding.EncodeToString(pub) + `"`, file
}

// A message forwarded by a mailing list breaks the From domain's DMARC
// (SPF fails for the list's IP, no DKIM); the list sealed it after its
// own DMARC pass. Trusting the list's seal delivers it; otherwise the
// reject policy refuses it.
func TestARCTrustedSealerOverridesDMARC(t *testing.T) {
	key, rec, _ := edKey(t)
	dns := dnstest.Start(t,
		dnstest.Zone{Name: "forwarder.test", Text: "sel._domainkey TXT " + rec},
		dnstest.Zone{Name: "reject.test", Text: `
			@      TXT "v=spf1 -all"
			_dmarc TXT "v=DMARC1; p=reject"`},
	)
	orig := "Authentication-Results: forwarder.test; dmarc=pass header.from=reject.test\r\n" +
		"From: <a@reject.test>\r\nTo: <list@forwarder.test>\r\nSubject: via the list\r\n\r\nbody\r\n"
	sealed, err := arc.Seal(strings.NewReader(orig), &arc.SealOptions{Domain: "forwarder.test", Selector: "sel", Signer: key})
	if err != nil || sealed.Header == "" {
		t.Fatalf("seal: %v %+v", err, sealed)
	}
	msg := sealed.Header + orig

	for _, trusted := range []bool{false, true} {
		cfg := testConfig(t)
		cfg.DNS = dns.Addr()
		cfg.DMARC, cfg.SPF, cfg.ARCVerify = true, true, true
		if trusted {
			cfg.ARCTrusted = []string{"forwarder.test"}
		}
		tm := startMTA(t, cfg)
		c := greet(t, tm.addr)
		c.MustCmd("MAIL FROM:<a@reject.test>", 250)
		c.MustCmd("RCPT TO:<member@example.test>", 250)
		c.MustCmd("DATA", 354)
		c.Write(msg + ".\r\n")
		rep := c.ReadReply()
		if !trusted {
			expectCode(t, rep, 550, "5.7.1")
			continue
		}
		if rep.Code != 250 {
			t.Fatalf("trusted chain: %v", rep)
		}
		_, got := only(t, tm.messages(t, "member@example.test", "new"))
		if !strings.Contains(string(got), "arc=pass") || !strings.Contains(string(got), "dmarc=fail") {
			t.Fatalf("Authentication-Results:\n%s", got)
		}
	}
}

// -arc-sign seals what the relay sends, over our Authentication-Results.
func TestARCSignOnRelay(t *testing.T) {
	_, rec, file := edKey(t)
	sink := &smtptest.Sink{}
	peer := smtptest.Start(t, sink)
	dns := remoteWorld(t)
	dns.AddZone(dnstest.Zone{Name: "relay.test", Text: "arc._domainkey TXT " + rec})
	cfg := relayConfig(t, dns, peer.Addr)
	cfg.ARCVerify, cfg.SPF = true, true
	var err error
	if cfg.ARCSign, err = parseARCSign("relay.test:arc:" + file + ":timestamps,expire+3600"); err != nil {
		t.Fatal(err)
	}
	tm := startMTA(t, cfg)
	sendMessage(t, tm.addr, "sender@example.test", []string{"far@remote.test"}, "From: <sender@example.test>\r\nSubject: sealed\r\n\r\nbody\r\n")
	waitFor(t, "the relayed message", func() bool { return len(sink.Messages()) == 1 })
	got := string(sink.Messages()[0].Data)
	if !strings.HasPrefix(got, "ARC-Seal: i=1;") || !strings.Contains(got, "ARC-Authentication-Results: i=1; mx.test;") {
		t.Fatalf("relayed message not sealed:\n%s", got)
	}
	res, err := arc.Verify(context.Background(), strings.NewReader(got), &arc.VerifyOptions{LookupTXT: dns.Resolver().LookupTXT})
	if err != nil || res.State != arc.StatePass {
		t.Fatalf("our seal does not verify: %v %+v", err, res)
	}
	if !strings.Contains(got, " x=") || !strings.Contains(got, " t=") {
		t.Fatalf("timestamps or expiry missing:\n%s", got[:400])
	}
}

func TestParseARCSign(t *testing.T) {
	_, _, file := edKey(t)
	s, err := parseARCSign("Relay.Test:sel:" + file + ":timestamps,expire=2000000000")
	if err != nil || s.domain != "relay.test" || !s.timestamps || s.expireAt.Unix() != 2000000000 {
		t.Fatalf("%+v %v", s, err)
	}
	for _, bad := range []string{"relay.test:sel", "relay.test:sel:" + file + ":bogus", "relay.test:sel:/nonexistent", "relay.test:sel:" + file + ":expire+x"} {
		if _, err := parseARCSign(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// A trusted sealer's dmarc=pass overrides only for the Author Domain it
// was about (header.from), whatever the case or a trailing dot.
func TestRecordedDMARCPassNamesTheAuthor(t *testing.T) {
	for _, tc := range []struct {
		ar, author string
		want       bool
	}{
		{"list.test; dmarc=pass header.from=bank.test", "bank.test", true},
		{"list.test; dmarc=pass header.from=Bank.Test.", "bank.test", true},
		{"list.test; dmarc=pass header.from=evil.test", "bank.test", false},
		{"list.test; dmarc=pass", "bank.test", false},
		{"list.test; dmarc=fail header.from=bank.test", "bank.test", false},
		{"list.test; dmarc=pass header.from=bank.test", "", false},
		{"list.test; spf=pass smtp.mailfrom=bank.test; dmarc=pass header.from=evil.test; dmarc=pass header.from=bank.test", "bank.test", true},
	} {
		_, results, err := authres.Parse(tc.ar)
		if err != nil {
			t.Fatal(err)
		}
		if got := recordedDMARCPass(results, tc.author); got != tc.want {
			t.Errorf("%q for %q: %v, want %v", tc.ar, tc.author, got, tc.want)
		}
	}
}
