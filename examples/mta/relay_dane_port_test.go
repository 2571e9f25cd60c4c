package main

import (
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/dane"
	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/internal/pkitest"
)

// With -dane the TLSA owner name is that of the port dialled,
// "_PORT._tcp.HOST" for -remote-port (RFC 7672 section 2.2.3; Exim does
// the same), not _25: a record at _25 for another certificate does not
// stop the delivery that the record of the port dialled authenticates,
// and a record at _25 alone is not used for another port.
func TestDANEUsesTheRemotePort(t *testing.T) {
	ca := pkitest.NewCA(t, pkitest.ECDSA)
	leaf := ca.Issue(t, pkitest.Leaf{Names: []string{"mx.port.test", "mx.only25.test"}})
	other := ca.Issue(t, pkitest.Leaf{Names: []string{"mx.port.test"}})
	sink, peer := tlsPeer(t, leaf, nil)
	if strings.HasSuffix(peer, ":25") {
		t.Fatal("the peer must not listen on port 25")
	}
	dns := dnstest.Start(t,
		dnstest.Zone{Name: "port.test", Secure: true, Text: "@ MX 10 mx\nmx A 127.0.0.1\n" +
			"_25._tcp.mx TLSA " + tlsa(t, other.Certificate, 3, 1, 1) + "\n" +
			tlsaPort(t, peer) + "._tcp.mx TLSA " + tlsa(t, leaf.Certificate, 3, 1, 1) + "\n"},
		dnstest.Zone{Name: "only25.test", Secure: true, Text: "@ MX 10 mx\nmx A 127.0.0.1\n" +
			"_25._tcp.mx TLSA " + tlsa(t, leaf.Certificate, 3, 1, 1) + "\n"})
	cfg := relayConfig(t, dns, peer)
	cfg.DANE = dane.Require
	cfg.Retry = []time.Duration{time.Hour}
	tm := startMTA(t, cfg)
	sendMessage(t, tm.addr, "sender@example.test", []string{"r@port.test", "r@only25.test"}, body)
	line := tm.waitLog(t, `msg="delivery attempt"`, "rcpt=r@port.test")
	if !strings.Contains(line, "result=delivered") || !strings.Contains(line, "cv=dane ") {
		t.Fatalf("delivery: %s", line)
	}
	// No TLSA records for the port dialled: under require, a deferral.
	line = tm.waitLog(t, `msg="delivery deferred"`, "domain=only25.test")
	if !strings.Contains(line, "451 4.7.5") {
		t.Fatalf("deferral: %s", line)
	}
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("the peer got %d messages", n)
	}
}
