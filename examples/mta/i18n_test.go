package main

import (
	"crypto/tls"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/dane"
	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/internal/pkitest"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// utf8Config is testConfig with -smtputf8 and a UTF-8 local domain.
func utf8Config(t *testing.T) config {
	cfg := testConfig(t)
	cfg.SMTPUTF8 = true
	cfg.LocalDomains = append(cfg.LocalDomains, aLabelDomain("Bücher.test"))
	return cfg
}

func TestSMTPUTF8Receive(t *testing.T) {
	tm := startMTA(t, utf8Config(t))
	c := greet(t, tm.addr)
	if rep := c.MustCmd("EHLO client.test", 250); !strings.Contains(rep.Text(), "SMTPUTF8") {
		t.Fatalf("SMTPUTF8 not offered: %v", rep)
	}
	// RFC 6531 section 3.5: not without the parameter, even when offered.
	expectCode(t, c.Cmd("MAIL FROM:<jörg@bücher.test>"), 553, "5.6.7")
	c.MustCmd("MAIL FROM:<s@x.test>", 250)
	expectCode(t, c.Cmd("RCPT TO:<ü@example.test>"), 553, "5.6.7")
	c.MustCmd("RSET", 250)
	c.MustCmd("MAIL FROM:<jörg@bücher.test> SMTPUTF8", 250)
	c.MustCmd("RCPT TO:<ل@BÜCHER.test>", 250)
	c.MustCmd("RCPT TO:<Ü@example.test>", 250)
	c.MustCmd("RCPT TO:<ü@example.test>", 250) // the same mailbox
	c.MustCmd("DATA", 354)
	c.Write("Subject: Grüße\r\n\r\nHallo.\r\n.\r\n")
	c.Expect(250)
	// The folders stay ASCII: Punycode local parts, A-label domains.
	_, msg := only(t, tm.messages(t, "xn--ghb@xn--bcher-kva.test", "new"))
	if !strings.Contains(string(msg), " with UTF8SMTP\n") || !strings.Contains(string(msg), "Subject: Grüße\n") {
		t.Fatalf("stored message:\n%s", msg)
	}
	only(t, tm.messages(t, "xn--tda@example.test", "new"))
	tm.waitLog(t, `msg="message accepted"`, "smtputf8=true")
}

// utf8World publishes bücher.test under its A-label only: the relay must
// convert before its MX lookup.
func utf8World(t *testing.T) *dnstest.Server {
	return dnstest.Start(t, dnstest.Zone{Name: "xn--bcher-kva.test", Text: `
		@   MX 10 mx
		mx  A  127.0.0.1`})
}

func sendUTF8(t *testing.T, addr, from string, to []string, msg string) {
	t.Helper()
	c := greet(t, addr)
	c.MustCmd("MAIL FROM:<"+from+"> SMTPUTF8", 250)
	for _, r := range to {
		c.MustCmd("RCPT TO:<"+r+">", 250)
	}
	c.MustCmd("DATA", 354)
	c.Write(msg + ".\r\n")
	c.Expect(250)
	c.MustCmd("QUIT", 221)
}

func TestSMTPUTF8RelayToSMTPUTF8Peer(t *testing.T) {
	sink := &smtptest.Sink{}
	peer := smtptest.Start(t, sink, func(s *smtp.Server) { s.EnableSMTPUTF8 = true })
	tm := startMTA(t, func() config { c := relayConfig(t, utf8World(t), peer.Addr); c.SMTPUTF8 = true; return c }())
	sendUTF8(t, tm.addr, "sender@example.test", []string{"ل@bücher.test", "a@bücher.test"}, "Subject: Grüße\r\n\r\nHallo.\r\n")
	waitFor(t, "the relayed message", func() bool { return len(sink.Messages()) == 1 })
	m := sink.Messages()[0]
	if !m.MailOpts.UTF8 || strings.Join(m.To, ",") != "ل@bücher.test,a@bücher.test" {
		t.Fatalf("relayed with SMTPUTF8=%v to %q", m.MailOpts.UTF8, m.To)
	}
}

func TestSMTPUTF8RelayDowngradeAndDSN(t *testing.T) {
	sink := &smtptest.Sink{}
	peer := smtptest.Start(t, sink) // no SMTPUTF8
	tm := startMTA(t, func() config { c := relayConfig(t, utf8World(t), peer.Addr); c.SMTPUTF8 = true; return c }())
	sendUTF8(t, tm.addr, "sender@example.test", []string{"ل@bücher.test", "a@bücher.test"}, "Subject: plain\r\n\r\nHallo.\r\n")
	waitFor(t, "the downgraded message", func() bool { return len(sink.Messages()) == 1 })
	m := sink.Messages()[0]
	if m.MailOpts.UTF8 || strings.Join(m.To, ",") != "a@xn--bcher-kva.test" {
		t.Fatalf("downgraded: SMTPUTF8=%v to %q", m.MailOpts.UTF8, m.To)
	}
	waitFor(t, "a DSN", func() bool { return len(tm.messages(t, "sender@example.test", "new")) == 1 })
	_, dsn := only(t, tm.messages(t, "sender@example.test", "new"))
	for _, want := range []string{`Final-Recipient: utf-8; \x{644}@b\x{FC}cher.test`, "Status: 5.6.7"} {
		if !strings.Contains(string(dsn), want) {
			t.Fatalf("DSN lacks %q:\n%s", want, dsn)
		}
	}
	// A UTF-8 header cannot be downgraded at all.
	sendUTF8(t, tm.addr, "sender@example.test", []string{"b@bücher.test"}, "Subject: Grüße\r\n\r\nHallo.\r\n")
	waitFor(t, "a second DSN", func() bool { return len(tm.messages(t, "sender@example.test", "new")) == 2 })
	if len(sink.Messages()) != 1 {
		t.Fatal("a UTF-8 header went to a server without SMTPUTF8")
	}
}

// rtlsWorld publishes secure.test with a DNSSEC-secure MX and insecure.test
// without, both on loopback.
func rtlsWorld(t *testing.T) *dnstest.Server {
	text := "@ MX 10 mx\nmx A 127.0.0.1\n"
	return dnstest.Start(t,
		dnstest.Zone{Name: "secure.test", Text: text, Secure: true},
		dnstest.Zone{Name: "insecure.test", Text: text},
	)
}

// rtlsPeer is a go-smtp sink with STARTTLS under a certificate for names,
// offering REQUIRETLS when offer is set, or no STARTTLS when names is nil.
func rtlsPeer(t *testing.T, ca *pkitest.CA, names []string, offer bool) (*smtptest.Sink, string) {
	sink := &smtptest.Sink{}
	peer := smtptest.Start(t, sink, func(s *smtp.Server) {
		if names != nil {
			s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, pkitest.Leaf{Names: names}).TLS()}}
		}
		s.EnableREQUIRETLS = offer
	})
	return sink, peer.Addr
}

// sendREQUIRETLS submits a message with REQUIRETLS on MAIL, over TLS.
func sendREQUIRETLS(t *testing.T, addr, to, msg string) {
	t.Helper()
	c := greet(t, addr)
	c.StartTLS(&tls.Config{InsecureSkipVerify: true})
	if rep := c.MustCmd("EHLO client.test", 250); !strings.Contains(rep.Text(), "REQUIRETLS") {
		t.Fatalf("REQUIRETLS not offered after STARTTLS: %v", rep)
	}
	c.MustCmd("MAIL FROM:<sender@example.test> REQUIRETLS", 250)
	c.MustCmd("RCPT TO:<"+to+">", 250)
	c.MustCmd("DATA", 354)
	c.Write(msg + ".\r\n")
	c.Expect(250)
	c.MustCmd("QUIT", 221)
}

func TestREQUIRETLSRefusedWithoutTLS(t *testing.T) {
	cfg := testConfig(t)
	cfg.RequireTLS = true
	tm := startMTA(t, cfg)
	c := greet(t, tm.addr)
	if rep := c.MustCmd("EHLO client.test", 250); strings.Contains(rep.Text(), "REQUIRETLS") {
		t.Fatalf("REQUIRETLS offered before STARTTLS: %v", rep)
	}
	expectCode(t, c.Cmd("MAIL FROM:<x@x.test> REQUIRETLS"), 523, "5.7.10")
	c.MustCmd("MAIL FROM:<x@x.test>", 250)
}

func TestREQUIRETLSRelay(t *testing.T) {
	ca := pkitest.NewCA(t, pkitest.ECDSA)
	for _, tc := range []struct {
		name   string
		domain string
		names  []string // the peer's certificate; nil: no STARTTLS
		offer  bool     // the peer offers REQUIRETLS
		status string   // the DSN's; "" delivered
	}{
		{"delivered", "secure.test", []string{"mx.secure.test"}, true, ""},
		{"no REQUIRETLS", "secure.test", []string{"mx.secure.test"}, false, "5.7.30"},
		{"no STARTTLS", "secure.test", nil, true, "5.7.10"},
		{"wrong name", "secure.test", []string{"mx.other.test"}, true, "5.7.10"},
		{"insecure MX", "insecure.test", []string{"mx.insecure.test"}, true, "5.7.10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink, peer := rtlsPeer(t, ca, tc.names, tc.offer)
			cfg := relayConfig(t, rtlsWorld(t), peer)
			cfg.RequireTLS, cfg.relayRoots = true, ca.Pool()
			cfg.Retry = []time.Duration{time.Hour} // a deferral would show as no DSN
			tm := startMTA(t, cfg)
			sendREQUIRETLS(t, tm.addr, "r@"+tc.domain, "Subject: secret\r\n\r\nbody\r\n")
			if tc.status == "" {
				waitFor(t, "the delivery", func() bool { return len(sink.Messages()) == 1 })
				if !sink.Messages()[0].MailOpts.RequireTLS {
					t.Fatal("relayed without REQUIRETLS on MAIL")
				}
				tm.waitLog(t, `msg="delivery attempt"`, "result=delivered", "tls=TLS1.3")
				return
			}
			waitFor(t, "a DSN", func() bool { return len(tm.messages(t, "sender@example.test", "new")) == 1 })
			_, dsn := only(t, tm.messages(t, "sender@example.test", "new"))
			if !strings.Contains(string(dsn), "Status: "+tc.status) {
				t.Fatalf("DSN, want %s:\n%s", tc.status, dsn)
			}
			if len(sink.Messages()) != 0 {
				t.Fatal("the peer got the message")
			}
		})
	}
}

// The spool envelope records REQUIRETLS and TLS-Required: No.
func TestREQUIRETLSSpoolEnvelope(t *testing.T) {
	cfg := relayConfig(t, rtlsWorld(t), "127.0.0.1:9") // nothing listens
	cfg.RequireTLS = true
	cfg.Retry = []time.Duration{time.Hour}
	tm := startMTA(t, cfg)
	sendREQUIRETLS(t, tm.addr, "r@secure.test", "Subject: a\r\n\r\nbody\r\n")
	sendMessage(t, tm.addr, "sender@example.test", []string{"r@secure.test"}, "TLS-Required: No\r\nSubject: b\r\n\r\nbody\r\n")
	var req, opt int
	waitFor(t, "two envelopes", func() bool {
		envs, _ := filepath.Glob(filepath.Join(tm.data, "spool", "*.env"))
		req, opt = 0, 0
		for _, p := range envs {
			b, _ := os.ReadFile(p)
			var q queued
			if json.Unmarshal(b, &q) == nil {
				if q.RequireTLS {
					req++
				}
				if q.TLSOptional {
					opt++
				}
			}
		}
		return len(envs) == 2
	})
	if req != 1 || opt != 1 {
		t.Fatalf("envelopes: %d REQUIRETLS, %d TLS-Required: No", req, opt)
	}
}

// TLS-Required: No goes over TLS to a server whose certificate DANE says
// is wrong (RFC 8689 section 4.2.2); without the field it is deferred
// (TestRelayDANE).
func TestTLSRequiredNoIgnoresBadCertificate(t *testing.T) {
	root := pkitest.NewCA(t, pkitest.ECDSA)
	in := root.NewIntermediate(t, pkitest.ECDSA)
	names := []string{"mx.wrong.test"}
	leaf := in.Issue(t, pkitest.Leaf{Names: names})
	other := in.Issue(t, pkitest.Leaf{Names: names})
	sink, peer := tlsPeer(t, leaf, nil)
	cfg := relayConfig(t, daneWorld(t, peer, in, leaf, other), peer)
	cfg.RequireTLS = true
	cfg.DANE = dane.Require
	tm := startMTA(t, cfg)
	sendMessage(t, tm.addr, "sender@example.test", []string{"r@wrong.test"}, "TLS-Required: No\r\nSubject: b\r\n\r\nbody\r\n")
	waitFor(t, "the delivery", func() bool { return len(sink.Messages()) == 1 })
	tm.waitLog(t, `msg="delivery attempt"`, "result=delivered", "tls=TLS1.3")
}
