package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// dmarcAttackWorld is the DNS of the attacks on a p=reject domain:
// bank.test publishes p=reject and an SPF record that allows no one;
// relay.test, the MAIL FROM domain, allows 127.0.0.1 and has no DMARC
// record, nor has other.test.
func dmarcAttackWorld(t *testing.T) *dnstest.Server {
	return dnstest.Start(t,
		dnstest.Zone{Name: "bank.test", Text: `
			@      TXT "v=spf1 -all"
			_dmarc TXT "v=DMARC1; p=reject"`},
		dnstest.Zone{Name: "relay.test", Text: `
			@      TXT "v=spf1 ip4:127.0.0.1 -all"`},
		dnstest.Zone{Name: "other.test", Text: `
			@      A   192.0.2.1`},
	)
}

// dmarcAttacks are header sections that claim to come from bank.test, or
// have no usable From, each with the reply -dmarc must give.
var dmarcAttacks = []struct {
	name, header, reply string
}{
	{"comment before a bare address", "From: (The CEO) ceo@bank.test\r\n", "550 5.7.1"},
	{"display phrase before a bare address", "From: The CEO ceo@bank.test\r\n", "550 5.7.1"},
	{"CFWS in angle brackets", "From: CEO <ceo@bank.test >\r\n", "550 5.7.1"},
	{"obsolete route", "From: CEO <@relay.test:ceo@bank.test>\r\n", "550 5.7.1"},
	{"obsolete CFWS around dots", "From: ceo . office @ bank . test\r\n", "550 5.7.1"},
	{"two From fields", "From: someone@other.test\r\nFrom: ceo@bank.test\r\n", "550 5.7.1"},
	{"two addresses", "From: someone@other.test, ceo@bank.test\r\n", "550 5.7.1"},
	{"no From", "", "550 5.7.1"},
	{"unparsable From", "From: ::\r\n", "550 5.7.1"},
	{"header section over 1 MiB", "From: ceo@other.test\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("x", 990)+"\r\n", 1060), "552 5.3.4"},
}

// TestDMARCAttacksRefused sends the attacks to the MTA with -dmarc: each
// is refused as it must be, and nothing lands in the Maildir.
func TestDMARCAttacksRefused(t *testing.T) {
	cfg := relayConfig(t, dmarcAttackWorld(t), "127.0.0.1:1")
	cfg.DMARC, cfg.SPF = true, true
	tm := startMTA(t, cfg)
	for _, a := range dmarcAttacks {
		t.Run(a.name, func(t *testing.T) {
			c := greet(t, tm.addr)
			c.MustCmd("MAIL FROM:<bounce@relay.test>", 250)
			c.MustCmd("RCPT TO:<ceo@example.test>", 250)
			c.MustCmd("DATA", 354)
			c.Write(a.header + "Subject: wire the money\r\n\r\nbody\r\n.\r\n")
			rep := c.ReadReply()
			code, enhanced, _ := strings.Cut(a.reply, " ")
			if rep.Err != nil || strconv.Itoa(rep.Code) != code || !strings.HasPrefix(rep.Text(), enhanced+" ") {
				t.Fatalf("reply %v, want %s", rep, a.reply)
			}
		})
	}
	if got := tm.messages(t, "ceo@example.test", "new"); len(got) != 0 {
		t.Fatalf("%d messages delivered", len(got))
	}
	if got := tm.messages(t, "ceo@example.test/.Junk", "new"); len(got) != 0 {
		t.Fatalf("%d messages quarantined", len(got))
	}
}

// TestDMARCDeliverNoFrom: -dmarc-deliver-nofrom delivers a message with no
// From, with our Authentication-Results only (the forged one with our
// authserv-id, folded and commented, is gone), and still refuses one whose
// From fields include bank.test.
func TestDMARCDeliverNoFrom(t *testing.T) {
	cfg, err := parseFlags([]string{"-dmarc", "-dmarc-deliver-nofrom", "-header-maxsize", "4096"}, nil)
	if err != nil || !cfg.DMARCDeliverNoFrom || cfg.HeaderMax != 4096 {
		t.Fatalf("flags: %v %+v", err, cfg)
	}
	cfg = relayConfig(t, dmarcAttackWorld(t), "127.0.0.1:1")
	cfg.DMARC, cfg.SPF, cfg.DMARCDeliverNoFrom = true, true, true
	tm := startMTA(t, cfg)
	send := func(header string) smtptest.Reply {
		c := greet(t, tm.addr)
		c.MustCmd("MAIL FROM:<bounce@relay.test>", 250)
		c.MustCmd("RCPT TO:<ceo@example.test>", 250)
		c.MustCmd("DATA", 354)
		c.Write(header + "Subject: hi\r\n\r\nbody\r\n.\r\n")
		return c.ReadReply()
	}
	forged := "Authentication-Results: (ours)\r\n MX.test 1; dmarc=pass header.from=bank.test\r\n"
	if rep := send(forged); rep.Code != 250 {
		t.Fatalf("no From: %v", rep)
	}
	expectCode(t, send("From: ::\r\nFrom: ceo@bank.test\r\n"), 550, "5.7.1")
	_, msg := only(t, tm.messages(t, "ceo@example.test", "new"))
	if strings.Count(string(msg), "Authentication-Results:") != 1 || strings.Contains(string(msg), "dmarc=pass") ||
		!strings.Contains(string(msg), "Authentication-Results: mx.test;") || !strings.Contains(string(msg), "dmarc=permerror") {
		t.Fatalf("delivered:\n%s", msg)
	}
}
