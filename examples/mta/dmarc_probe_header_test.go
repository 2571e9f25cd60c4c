package main

import (
	"bufio"
	"bytes"
	"net/mail"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/internal/dnstest"
)

// TestDMARCProbeHeaderBoundary sends, with -dmarc, messages whose lines
// end in odd ways: a bare CR, a CR before CRLF, a bare LF, NUL. A From
// field of bank.test (p=reject) that some mail reader would find, Python's
// email package ending lines at a bare CR among them, gets the message
// refused; a message that is delivered shows, read back from the Maildir
// with net/mail or split at every CR and LF, no From but the one the
// evaluator passed.
func TestDMARCProbeHeaderBoundary(t *testing.T) {
	cfg := relayConfig(t, dmarcAttackWorld(t), "127.0.0.1:1")
	cfg.DMARC, cfg.SPF = true, true
	tm := startMTA(t, cfg)
	send := func(msg string) (int, string) {
		c := greet(t, tm.addr)
		c.MustCmd("MAIL FROM:<bounce@relay.test>", 250)
		c.MustCmd("RCPT TO:<ceo@example.test>", 250)
		c.MustCmd("DATA", 354)
		c.Write(msg + ".\r\n")
		rep := c.ReadReply()
		return rep.Code, rep.Text()
	}
	for _, msg := range []string{
		"From: someone@other.test\r\nSubject: hi\rFrom: ceo@bank.test\r\n\r\nbody\r\n",
		"Subject: hi\rFrom: ceo@bank.test\r\n\r\nbody\r\n",
		"From: (x\rFrom: ceo@bank.test) someone@other.test\r\n\r\nbody\r\n",
		"From: \"x\rFrom: ceo@bank.test\" <someone@other.test>\r\n\r\nbody\r\n",
		"From: someone@other.test\r\nX: y\r\n\r\r\nFrom: ceo@bank.test\r\n\r\nbody\r\n",
		"From: someone@other.test\r\nX: y\r\n\x00\r\nFrom: ceo@bank.test\r\n\r\nbody\r\n",
		"From: someone@other.test\x00ceo@bank.test\r\n\r\nbody\r\n",
		" From: ceo@bank.test\r\nFrom: someone@other.test\r\n\r\nbody\r\n",
	} {
		if code, text := send(msg); code != 550 || !strings.HasPrefix(text, "5.7.1 ") {
			t.Errorf("%q: %d %s", msg, code, text)
		}
	}
	if got := tm.messages(t, "ceo@example.test", "new"); len(got) != 0 {
		t.Fatalf("%d refused messages delivered", len(got))
	}
	// Delivered: the header section ends where the evaluator's did.
	for _, msg := range []string{
		"From: someone@other.test\r\nSubject: hi\r\n\r\nFrom: ceo@bank.test\r\n",
		"From: someone@other.test\nSubject: hi\n\nFrom: ceo@bank.test\r\n",
		"From: someone@other.test\r\nSubject: hi\n\r\nFrom: ceo@bank.test\r\n",
		"From: someone@other.test\r\n\nFrom: ceo@bank.test\r\n\r\n",
	} {
		if code, text := send(msg); code != 250 {
			t.Errorf("%q: %d %s", msg, code, text)
		}
	}
	got := tm.messages(t, "ceo@example.test", "new")
	if len(got) != 4 {
		t.Fatalf("%d messages delivered", len(got))
	}
	for name, data := range got {
		m, err := mail.ReadMessage(bytes.NewReader(data))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if from := m.Header["From"]; len(from) != 1 || from[0] != "someone@other.test" {
			t.Errorf("%s: net/mail reads From %q", name, from)
		}
		hdr, _, _ := bytes.Cut(data, []byte("\n\n"))
		sc := bufio.NewScanner(bytes.NewReader(hdr))
		sc.Split(func(b []byte, atEOF bool) (int, []byte, error) {
			if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
				return i + 1, b[:i], nil
			}
			if atEOF && len(b) > 0 {
				return len(b), b, nil
			}
			return 0, nil, nil
		})
		for sc.Scan() {
			if strings.Contains(strings.ToLower(sc.Text()), "bank.test") {
				t.Errorf("%s: header line %q", name, sc.Text())
			}
		}
	}
}

// TestDMARCProbeTempErrorDeferred: with -dmarc, a _dmarc lookup that
// fails with SERVFAIL, for the From domain or its organisational domain,
// is answered 451, and nothing is delivered.
func TestDMARCProbeTempErrorDeferred(t *testing.T) {
	dns := dnstest.Start(t,
		dnstest.Zone{Name: "bank.test", Text: `
			@      TXT "v=spf1 -all"
			_dmarc TXT "v=DMARC1; p=reject"`},
		dnstest.Zone{Name: "sub.bank.test", Text: `
			@      A   192.0.2.1`},
		dnstest.Zone{Name: "relay.test", Text: `
			@      TXT "v=spf1 ip4:127.0.0.1 -all"`},
	)
	if err := dns.SetMode("bank.test", dnstest.ServFail(2, "test")); err != nil {
		t.Fatal(err)
	}
	cfg := relayConfig(t, dns, "127.0.0.1:1")
	cfg.DMARC, cfg.SPF = true, true
	tm := startMTA(t, cfg)
	for _, from := range []string{"ceo@bank.test", "ceo@sub.bank.test"} {
		c := greet(t, tm.addr)
		c.MustCmd("MAIL FROM:<bounce@relay.test>", 250)
		c.MustCmd("RCPT TO:<ceo@example.test>", 250)
		c.MustCmd("DATA", 354)
		c.Write("From: " + from + "\r\nSubject: wire the money\r\n\r\nbody\r\n.\r\n")
		expectCode(t, c.ReadReply(), 451, "4.7.1")
	}
	if got := tm.messages(t, "ceo@example.test", "new"); len(got) != 0 {
		t.Fatalf("%d messages delivered", len(got))
	}
}
