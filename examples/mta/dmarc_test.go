package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

func TestDMARCRejectQuarantinePassAndReports(t *testing.T) {
	sink := &smtptest.Sink{}
	peer := smtptest.Start(t, sink)
	dns := dnstest.Start(t,
		dnstest.Zone{Name: "reject.test", Text: `
			@      TXT "v=spf1 -all"
			_dmarc TXT "v=DMARC1; p=reject"`},
		dnstest.Zone{Name: "quar.test", Text: `
			@      TXT "v=spf1 -all"
			_dmarc TXT "v=DMARC1; p=quarantine"`},
		dnstest.Zone{Name: "pass.test", Text: `
			@      TXT "v=spf1 ip4:127.0.0.1 -all"
			_dmarc TXT "v=DMARC1; p=reject; rua=mailto:reports@remote.test"`},
		dnstest.Zone{Name: "remote.test", Text: `
			@  MX 10 mx
			mx A  127.0.0.1
			pass.test._report._dmarc TXT "v=DMARC1"`},
	)
	cfg := relayConfig(t, dns, peer.Addr)
	cfg.DMARC, cfg.SPF = true, true
	cfg.DMARCHistory = filepath.Join(t.TempDir(), "history")
	cfg.DMARCReports = true
	tm := startMTA(t, cfg)

	send := func(domain string) smtptest.Reply {
		c := greet(t, tm.addr)
		c.MustCmd("MAIL FROM:<a@"+domain+">", 250)
		c.MustCmd("RCPT TO:<dm@example.test>", 250)
		c.MustCmd("DATA", 354)
		c.Write("From: <a@" + domain + ">\r\nSubject: dmarc\r\n\r\nbody\r\n.\r\n")
		return c.ReadReply()
	}
	expectCode(t, send("reject.test"), 550, "5.7.1")
	if rep := send("quar.test"); rep.Code != 250 {
		t.Fatalf("quarantine: %v", rep)
	}
	if rep := send("pass.test"); rep.Code != 250 {
		t.Fatalf("pass: %v", rep)
	}
	_, junk := only(t, tm.messages(t, "dm@example.test/.Junk", "new"))
	if !strings.Contains(string(junk), "dmarc=fail") || !strings.Contains(string(junk), "header.from=quar.test") {
		t.Fatalf("quarantined message:\n%s", junk)
	}
	_, inbox := only(t, tm.messages(t, "dm@example.test", "new"))
	if !strings.Contains(string(inbox), "Authentication-Results: mx.test") || !strings.Contains(string(inbox), "dmarc=pass") ||
		!strings.Contains(string(inbox), "spf=pass") {
		t.Fatalf("inbox message:\n%s", inbox)
	}
	hist, err := os.ReadFile(cfg.DMARCHistory)
	if err != nil || strings.Count(string(hist), "job ") != 3 {
		t.Fatalf("history (%v):\n%s", err, hist)
	}

	// The daily report for pass.test goes out through the relay queue.
	if err := tm.sendDMARCReports(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the aggregate report", func() bool { return len(sink.Messages()) == 1 })
	rep := sink.Messages()[0]
	if rep.To[0] != "reports@remote.test" || !strings.Contains(string(rep.Data), "Report Domain: pass.test") {
		t.Fatalf("report %s:\n%s", rep.To, rep.Data)
	}
}

func TestDMARCFlagsNeedDMARC(t *testing.T) {
	if _, err := parseFlags([]string{"-dmarc-history", "h"}, nil); err == nil {
		t.Fatal("-dmarc-history without -dmarc accepted")
	}
	if _, err := parseFlags([]string{"-dmarc", "-dmarc-reports"}, nil); err == nil {
		t.Fatal("-dmarc-reports without history accepted")
	}
	cfg, err := parseFlags([]string{"-dmarc"}, nil)
	if err != nil || !cfg.SPF {
		t.Fatalf("-dmarc does not turn on SPF: %v", err)
	}
}
