package dmarc

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// TestWantsFailureReport walks the fo= options of RFC 7489 section 6.3.
func TestWantsFailureReport(t *testing.T) {
	var pass, fail authres.ResultValue = authres.ResultPass, authres.ResultFail
	tests := []struct {
		fo                  string
		spf                 authres.ResultValue
		spfAligned, dkimAln bool
		dkim                []authres.ResultValue
		want                bool
	}{
		{"0", fail, false, false, nil, true},
		{"0", pass, true, false, nil, false},
		{"0", fail, false, true, []authres.ResultValue{pass}, false},
		{"1", pass, true, false, nil, true},
		{"1", pass, true, true, []authres.ResultValue{pass}, false},
		{"d", pass, true, true, []authres.ResultValue{pass, fail}, true},
		{"d", pass, true, true, []authres.ResultValue{pass}, false},
		{"s", authres.ResultSoftFail, false, true, []authres.ResultValue{pass}, true},
		{"s", pass, true, false, nil, false},
		{"d:s", fail, false, true, []authres.ResultValue{pass}, true},
	}
	for _, tt := range tests {
		rec, err := parseRecord("example.com", "v=DMARC1; p=reject; ruf=mailto:f@example.com; fo="+tt.fo, false)
		if err != nil {
			t.Fatal(err)
		}
		r := &Result{Status: StatusReject, Record: rec, SPF: SPFCheck{Result: tt.spf}, SPFAligned: tt.spfAligned, DKIMAligned: tt.dkimAln}
		if tt.spfAligned || tt.dkimAln {
			r.Status = StatusAccept
		}
		for _, v := range tt.dkim {
			r.DKIM = append(r.DKIM, DKIMResult{Domain: "example.com", Result: v})
		}
		if got := r.WantsFailureReport(); got != tt.want {
			t.Errorf("fo=%s spf=%s/%v dkim=%v/%v: %v", tt.fo, tt.spf, tt.spfAligned, tt.dkim, tt.dkimAln, got)
		}
	}
	rec, _ := parseRecord("example.com", "v=DMARC1; p=reject", false)
	if (&Result{Status: StatusReject, Record: rec}).WantsFailureReport() {
		t.Error("report wanted without ruf=")
	}
	if (&Result{Status: StatusTempError}).WantsFailureReport() {
		t.Error("report wanted for temperror")
	}
}

// failureReports evaluates a failing message and sends its failure
// reports to a sink, with redaction or not, and returns the parts of the
// one report.
func failureReports(t *testing.T, redact bool) (msg string, parts map[string]string, hdr mail.Header) {
	t.Helper()
	srv := world(t)
	sink := &smtptest.Sink{}
	smtpSrv := smtptest.Start(t, sink)
	rp := NewReporter(&ReporterOptions{
		Email:         "dmarc-reports@example.org",
		FailureSender: "forensic@example.org",
		Sender:        smtpSender(smtpSrv.Addr),
		Resolver:      srv.Resolver(),
		Redact:        redact,
		Now:           func() time.Time { return fixedNow },
	})
	msg = message("From: Joe <joe@example.com>", "To: \"Ann Other\"@example.org, bob@example.org")
	r := eval(t, evaluator(srv, nil), "joe@example.com", spfResult(authres.ResultFail, "joe@example.com"), msg)
	if err := rp.SendFailure(context.Background(), r, "joe@example.com", strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	got := sink.Messages()
	if len(got) != 1 {
		t.Fatalf("%d reports", len(got))
	}
	if got[0].From != "forensic@example.org" || got[0].To[0] != "auth-reports@example.com" {
		t.Errorf("envelope %s -> %v", got[0].From, got[0].To)
	}
	m, err := mail.ReadMessage(bytes.NewReader(got[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "feedback-report" {
		t.Fatalf("content type %q", m.Header.Get("Content-Type"))
	}
	parts = map[string]string{}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(p)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[ct] = string(b)
	}
	return msg, parts, m.Header
}

// TestSendFailure sends an RFC 6591 authentication failure report.
func TestSendFailure(t *testing.T) {
	msg, parts, hdr := failureReports(t, false)
	if hdr.Get("Subject") != "DMARC failure report for example.com from IP 192.0.2.1" {
		t.Errorf("subject %q", hdr.Get("Subject"))
	}
	fr := parts["message/feedback-report"]
	for _, want := range []string{
		"Feedback-Type: auth-failure\r\n", "Version: 1\r\n", "Auth-Failure: dmarc\r\n",
		"Original-Mail-From: <joe@example.com>\r\n", "Source-IP: 192.0.2.1\r\n", "Reported-Domain: example.com\r\n",
		"Identity-Alignment: none\r\n", "Authentication-Results: example.org;", "dmarc=fail", "Arrival-Date: ",
	} {
		if !strings.Contains(fr, want) {
			t.Errorf("feedback report lacks %q:\n%s", want, fr)
		}
	}
	if _, err := mail.ReadMessage(strings.NewReader(fr + "\r\n")); err != nil {
		t.Errorf("feedback report does not parse as fields: %v", err)
	}
	if got := strings.TrimSuffix(parts["message/rfc822"], "\r\n"); got != strings.TrimSuffix(msg, "\r\n") {
		t.Errorf("reported message\n%q\nwant\n%q", got, msg)
	}
}

// TestSendFailureRedacted leaves out the body and the local parts.
func TestSendFailureRedacted(t *testing.T) {
	_, parts, _ := failureReports(t, true)
	h := parts["text/rfc822-headers"]
	if h == "" || parts["message/rfc822"] != "" {
		t.Fatalf("parts %v", parts)
	}
	if strings.Contains(h, "joe@") || strings.Contains(h, "bob@") || strings.Contains(h, "Ann Other") || strings.Contains(h, "Hello.") {
		t.Errorf("not redacted:\n%s", h)
	}
	if !strings.Contains(h, "From: Joe <redacted@example.com>") || !strings.Contains(h, "redacted@example.org, redacted@example.org") {
		t.Errorf("redacted header:\n%s", h)
	}
	if fr := parts["message/feedback-report"]; !strings.Contains(fr, "Original-Mail-From: <redacted@example.com>") {
		t.Errorf("feedback report:\n%s", fr)
	}
}

// TestRedactLocalParts covers the address forms of RFC 5322.
func TestRedactLocalParts(t *testing.T) {
	for in, want := range map[string]string{
		"To: a@b.example":                         "To: redacted@b.example",
		"To: \"x y\"@b.example, c.d+e@f.example":  "To: redacted@b.example, redacted@f.example",
		"DKIM-Signature: v=1; i=@example.com":     "DKIM-Signature: v=1; i=@example.com",
		"Message-ID: <123.abc@mx.example>":        "Message-ID: <redacted@mx.example>",
		"no addresses here":                       "no addresses here",
		"Reply-To: Group: a@x.example, b@y.test;": "Reply-To: Group: redacted@x.example, redacted@y.test;",
	} {
		if got := redactLocalParts(in); got != want {
			t.Errorf("%q: got %q", in, got)
		}
	}
}
