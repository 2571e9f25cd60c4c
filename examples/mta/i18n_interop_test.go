//go:build interop

package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/dane"
	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/internal/interop"
	"github.com/smtpkit/smtpkit/internal/pkitest"
)

// Exim 4.96 with SMTPUTF8 sends a UTF-8 local part and domain to the
// MTA: delivered into the ASCII folder of that mailbox.
func TestInteropEximSendsSMTPUTF8(t *testing.T) {
	_, addr, data := startBinary(t, "-smtputf8", "-local-domains", "example.test,bücher.test")
	host, portStr, _ := strings.Cut(addr, ":")
	port, _ := strconv.Atoi(portStr)
	log := interop.EximSend(t, host, port, "jörg@bücher.test", []string{"ل@bücher.test"},
		"From: jörg@bücher.test\nSubject: Grüße\n\nHallo.\n")
	var delivery string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, " => ل@bücher.test ") {
			delivery = line
		}
	}
	if delivery == "" || !strings.Contains(delivery, ` C="250 2.0.0 `) {
		t.Fatalf("Exim did not deliver:\n%s", log)
	}
	// Exim logs a message submitted on its command line as P=local; the
	// utf8 protocol shows in the log of an Exim that receives one
	// (TestInteropRelaySMTPUTF8ToExim: P=utf8esmtps). Here the MTA's
	// Received field says SMTPUTF8 was used.
	if !strings.Contains(log, "<= jörg@bücher.test ") {
		t.Fatalf("Exim's log lacks the UTF-8 sender:\n%s", log)
	}
	msgs := maildirFiles(t, data, "xn--ghb@xn--bcher-kva.test")
	if len(msgs) != 1 || !strings.Contains(string(msgs[0]), " with UTF8SMTPS (TLS1.") || !strings.Contains(string(msgs[0]), "Subject: Grüße\n") {
		t.Fatalf("stored: %q", msgs)
	}
}

// utf8MX publishes bücher.test, under its A-label, with its MX on
// loopback.
func utf8MX(t *testing.T) *dnstest.Server {
	return dnstest.Start(t, dnstest.Zone{Name: "xn--bcher-kva.test", Text: `
		@   MX 10 mx
		mx  A  127.0.0.1`})
}

func TestInteropRelaySMTPUTF8ToExim(t *testing.T) {
	exim := interop.StartExim(t, "")
	dns := utf8MX(t)
	_, addr, _ := startBinary(t, append(relayFlags(dns, exim), "-smtputf8")...)
	if err := submit(addr, "sender@example.test", []string{"ل@bücher.test"},
		[]byte("Subject: Grüße\r\n\r\nHallo.\r\n")); err != nil {
		t.Fatal(err)
	}
	msgs := exim.WaitMessages(1, 30*time.Second)
	if !strings.Contains(msgs[0], "Subject: Grüße\n") {
		t.Fatalf("message: %s", msgs[0])
	}
	log := exim.MainLog()
	if !strings.Contains(log, "P=utf8esmtps") || !strings.Contains(log, "for ل@bücher.test") {
		t.Fatalf("Exim did not receive it with SMTPUTF8:\n%s", log)
	}
}

func TestInteropRelayDowngradeToEximWithoutSMTPUTF8(t *testing.T) {
	exim := interop.StartExim(t, "smtputf8_advertise_hosts =")
	dns := utf8MX(t)
	_, addr, data := startBinary(t, append(relayFlags(dns, exim), "-smtputf8")...)
	if err := submit(addr, "sender@example.test", []string{"a@bücher.test", "ل@bücher.test"},
		[]byte("Subject: plain\r\n\r\nHallo.\r\n")); err != nil {
		t.Fatal(err)
	}
	exim.WaitMessages(1, 30*time.Second)
	log := exim.MainLog()
	if !strings.Contains(log, "for a@xn--bcher-kva.test") || strings.Contains(log, "xn--ghb") || strings.Contains(log, "ل") {
		t.Fatalf("Exim's log:\n%s", log)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if dsn := maildirFilesMaybe(data, "sender@example.test"); len(dsn) == 1 {
			if !strings.Contains(string(dsn[0]), `Final-Recipient: utf-8; \x{644}@b\x{FC}cher.test`) ||
				!strings.Contains(string(dsn[0]), "Status: 5.6.7") {
				t.Fatalf("DSN: %s", dsn[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no DSN for the UTF-8 local part")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// secureMX publishes remote.test with a DNSSEC-secure MX on loopback, and
// tlsa, when set, for the port of addr.
func secureMX(t *testing.T, addr, tlsa string) *dnstest.Server {
	text := "@ MX 10 mx\nmx A 127.0.0.1\n"
	if tlsa != "" {
		text += tlsaPort(t, addr) + "._tcp.mx TLSA " + tlsa + "\n"
	}
	return dnstest.Start(t, dnstest.Zone{Name: "remote.test", Text: text, Secure: true})
}

// The MTA, in process (its relay trusting the test CA), relays
// REQUIRETLS messages to peers that cannot take them: Exim 4.96 does not
// offer REQUIRETLS (5.7.30), an Exim without STARTTLS (5.7.10). Nothing
// reaches them, in clear or otherwise.
func TestInteropREQUIRETLSToExim(t *testing.T) {
	for _, tc := range []struct {
		name, extra, status string
	}{
		{"no REQUIRETLS", "", "5.7.30"},
		{"no STARTTLS", "tls_advertise_hosts =", "5.7.10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exim := interop.StartExim(t, tc.extra)
			cfg := relayConfig(t, secureMX(t, "", ""), interop.Addr(exim.Port))
			cfg.RequireTLS = true
			cfg.Retry = []time.Duration{time.Hour}
			tm := startMTA(t, cfg)
			sendREQUIRETLS(t, tm.addr, "r@remote.test", "Subject: secret\r\n\r\nbody\r\n")
			waitFor(t, "a DSN", func() bool { return len(tm.messages(t, "sender@example.test", "new")) == 1 })
			_, dsn := only(t, tm.messages(t, "sender@example.test", "new"))
			if !strings.Contains(string(dsn), "Status: "+tc.status) || strings.Contains(string(dsn), "\nbody\n") {
				t.Fatalf("DSN, want %s and no body:\n%s", tc.status, dsn)
			}
			log := exim.MainLog()
			if strings.Contains(log, " <= ") || strings.Contains(log, "MAIL FROM") {
				t.Fatalf("Exim got the message:\n%s", log)
			}
			if !strings.Contains(log, "SMTP connection from") {
				t.Fatalf("the MTA never connected:\n%s", log)
			}
		})
	}
}

// A REQUIRETLS message to a go-smtp peer offering REQUIRETLS, with a
// certificate valid for its MX name: delivered, REQUIRETLS on MAIL.
func TestInteropREQUIRETLSToGoSMTP(t *testing.T) {
	ca := pkitest.NewCA(t, pkitest.ECDSA)
	sink, peer := rtlsPeer(t, ca, []string{"mx.remote.test"}, true)
	cfg := relayConfig(t, secureMX(t, "", ""), peer)
	cfg.RequireTLS, cfg.relayRoots = true, ca.Pool()
	tm := startMTA(t, cfg)
	sendREQUIRETLS(t, tm.addr, "r@remote.test", "Subject: secret\r\n\r\nbody\r\n")
	waitFor(t, "the delivery", func() bool { return len(sink.Messages()) == 1 })
	if !sink.Messages()[0].MailOpts.RequireTLS {
		t.Fatal("no REQUIRETLS on MAIL")
	}
}

// TLS-Required: No to Exim, whose certificate the DANE record does not
// match: delivered over TLS all the same (RFC 8689 section 4.2.2).
func TestInteropTLSRequiredNoToBadCertificate(t *testing.T) {
	exim := interop.StartExim(t, "")
	other := pkitest.NewCA(t, pkitest.ECDSA).Issue(t, pkitest.Leaf{Names: []string{"mx.remote.test"}})
	cfg := relayConfig(t, secureMX(t, interop.Addr(exim.Port), tlsa(t, other.Certificate, 3, 1, 1)), interop.Addr(exim.Port))
	cfg.RequireTLS, cfg.DANE = true, dane.Require
	tm := startMTA(t, cfg)
	sendMessage(t, tm.addr, "sender@example.test", []string{"r@remote.test"}, "TLS-Required: No\r\nSubject: b\r\n\r\nbody\r\n")
	exim.WaitMessages(1, 30*time.Second)
	var received string
	for _, line := range strings.Split(exim.MainLog(), "\n") {
		if strings.Contains(line, " <= sender@example.test ") {
			received = line
		}
	}
	if !strings.Contains(received, " X=TLS1.") {
		t.Fatalf("not received over TLS: %q", received)
	}
}

// swaks: MAIL FROM:<x> REQUIRETLS without STARTTLS is refused. (swaks has
// no option for MAIL parameters: the sender carries them, and AUTH=<>
// closes its angle bracket.)
func TestInteropSwaksREQUIRETLSWithoutSTARTTLS(t *testing.T) {
	interop.Need(t, "swaks")
	_, addr, _ := startBinary(t, "-requiretls")
	host, port, _ := strings.Cut(addr, ":")
	out, err := interop.Run(t, time.Minute, "swaks", "--server", host, "--port", port,
		"--from", "x@x.test> REQUIRETLS AUTH=<", "--to", "a@example.test", "--quit-after", "MAIL")
	if err == nil || !strings.Contains(out, "<** 523 5.7.10") {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	// Over STARTTLS, REQUIRETLS is offered and taken.
	out, err = interop.Run(t, time.Minute, "swaks", "--server", host, "--port", port, "-tls",
		"--from", "x@x.test> REQUIRETLS AUTH=<", "--to", "a@example.test")
	if err != nil || !strings.Contains(out, "REQUIRETLS") {
		t.Fatalf("swaks over TLS: %v\n%s", err, out)
	}
}
