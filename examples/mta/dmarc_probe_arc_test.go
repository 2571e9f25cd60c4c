package main

import (
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/arc"
	"github.com/smtpkit/smtpkit/internal/dnstest"
)

// TestDMARCProbeARCOverrideAddedFrom: a trusted sealer's ARC set over a
// message it saw pass DMARC for the attacker's own domain still
// verifies when a From field of reject.test is added on top (the
// sealer's ARC-Message-Signature covers only the lowest From field). The
// override of RFC 8617 section 7.2 vouches for what the sealer saw, not
// for an author it never evaluated: the message is refused.
func TestDMARCProbeARCOverrideAddedFrom(t *testing.T) {
	key, rec, _ := edKey(t)
	dns := dnstest.Start(t,
		dnstest.Zone{Name: "forwarder.test", Text: "sel._domainkey TXT " + rec},
		dnstest.Zone{Name: "reject.test", Text: `
			@      TXT "v=spf1 -all"
			_dmarc TXT "v=DMARC1; p=reject"`},
		dnstest.Zone{Name: "attacker.test", Text: `
			_dmarc TXT "v=DMARC1; p=none"`},
	)
	orig := "Authentication-Results: forwarder.test; dmarc=pass header.from=attacker.test\r\n" +
		"From: <ann@attacker.test>\r\nTo: <list@forwarder.test>\r\nSubject: via the list\r\n\r\nbody\r\n"
	sealed, err := arc.Seal(strings.NewReader(orig), &arc.SealOptions{Domain: "forwarder.test", Selector: "sel", Signer: key})
	if err != nil || sealed.Header == "" {
		t.Fatalf("seal: %v %+v", err, sealed)
	}
	for _, msg := range []string{
		"From: <ceo@reject.test>\r\n" + sealed.Header + orig,
		sealed.Header + "From: CEO <ceo@reject.test>\r\n" + orig,
	} {
		cfg := testConfig(t)
		cfg.DNS = dns.Addr()
		cfg.DMARC, cfg.SPF, cfg.ARCVerify = true, true, true
		cfg.ARCTrusted = []string{"forwarder.test"}
		tm := startMTA(t, cfg)
		c := greet(t, tm.addr)
		c.MustCmd("MAIL FROM:<ann@attacker.test>", 250)
		c.MustCmd("RCPT TO:<member@example.test>", 250)
		c.MustCmd("DATA", 354)
		c.Write(msg + ".\r\n")
		expectCode(t, c.ReadReply(), 550, "5.7.1")
		if got := tm.messages(t, "member@example.test", "new"); len(got) != 0 {
			t.Fatalf("%d messages delivered", len(got))
		}
	}
}
