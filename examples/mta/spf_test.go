package main

import (
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/spf"
)

func TestSPFRecordedAndEnforced(t *testing.T) {
	dns := dnstest.Start(t,
		dnstest.Zone{Name: "good.test", Text: `@ TXT "v=spf1 ip4:127.0.0.1 -all"`},
		dnstest.Zone{Name: "bad.test", Text: `
			@ TXT "v=spf1 ip4:192.0.2.1 exp=why.%{d} -all"
			why TXT "%{i} is not a mail server of %{d}"`},
		dnstest.Zone{Name: "broken.test", Text: `@ TXT "v=spf1 ip4:127.0.0.1 -all"`},
	)
	dns.SetMode("broken.test", dnstest.ServFail(2, "test"))
	cfg := testConfig(t)
	cfg.DNS = dns.Addr()
	cfg.SPF = true
	cfg.SPFReject = spf.MustParseCondition("fail")
	cfg.SPFDefer = spf.MustParseCondition("temperror")
	tm := startMTA(t, cfg)

	c := greet(t, tm.addr)
	rep := c.Cmd("MAIL FROM:<x@bad.test>")
	expectCode(t, rep, 550, "5.7.23")
	if !strings.Contains(rep.Text(), "127.0.0.1 is not a mail server of bad.test") {
		t.Fatalf("reject text lacks the exp= explanation: %v", rep)
	}
	expectCode(t, c.Cmd("MAIL FROM:<x@broken.test>"), 451, "4.7.24")

	c.MustCmd("MAIL FROM:<x@good.test>", 250)
	c.MustCmd("RCPT TO:<spf@example.test>", 250)
	c.MustCmd("DATA", 354)
	c.Write(body + ".\r\n")
	c.Expect(250)
	_, msg := only(t, tm.messages(t, "spf@example.test", "new"))
	if !strings.HasPrefix(string(msg), "Received-SPF: pass ") || !strings.Contains(string(msg), "client-ip=127.0.0.1;") ||
		strings.Index(string(msg), "Received-SPF:") > strings.Index(string(msg), "Received: from") {
		t.Fatalf("Received-SPF missing or below Received:\n%s", msg)
	}
}
