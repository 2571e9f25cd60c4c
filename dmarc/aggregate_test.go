package dmarc

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// smtpSender is a Sender that delivers over SMTP to addr: the tests'
// stand-in for an MTA's queue.
func smtpSender(addr string) Sender {
	return SenderFunc(func(_ context.Context, from string, to []string, msg io.Reader) error {
		c, err := smtp.Dial(addr)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.SendMail(from, to, msg); err != nil {
			return err
		}
		return c.Quit()
	})
}

// reportHistory writes a history of several messages, as the session
// would, and returns its path.
func reportHistory(t *testing.T, srv *dnstest.Server) string {
	t.Helper()
	e := evaluator(srv, nil)
	path := filepath.Join(t.TempDir(), "history")
	h, err := OpenHistory(path, "mx.example.org")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	write := func(r *Result, action Policy) {
		if err := h.Write("", r, action); err != nil {
			t.Fatal(err)
		}
	}
	signed := sign(t, message("From: joe@example.com"), "example.com")
	for range 3 { // three identical passes: one row, count 3
		write(eval(t, e, "joe@example.com", spfResult(authres.ResultPass, "joe@example.com"), signed), PolicyNone)
	}
	write(eval(t, e, "x@example.net", spfResult(authres.ResultFail, "x@example.net"), message("From: joe@example.com")), PolicyReject)
	write(eval(t, e, "", nil, message("From: joe@news.example.com")), PolicyNone) // quarantine, not enforced
	r := eval(t, e, "", nil, message("From: joe@example.com"))
	r.IP = netip.MustParseAddr("2001:db8::1")
	write(r, PolicyReject)
	write(eval(t, e, "", nil, message("From: joe@example.org")), PolicyNone)      // p=none
	write(eval(t, e, "", nil, message("From: joe@example.net")), PolicyNone)      // no record
	write(eval(t, e, "", nil, message("From: joe@none.example.com")), PolicyNone) // no rua
	late := eval(t, e, "", nil, message("From: joe@example.com"))
	late.Received = fixedNow.Add(48 * time.Hour)
	write(late, PolicyReject) // outside the period
	return path
}

func TestAggregateReports(t *testing.T) {
	srv := world(t)
	path := reportHistory(t, srv)
	rp := NewReporter(&ReporterOptions{Email: "dmarc-reports@example.org", OrgName: "Example Receiver", Now: func() time.Time { return fixedNow }})
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	begin, end := fixedNow.Add(-time.Hour), fixedNow.Add(23*time.Hour)
	reports, err := rp.AggregateReports(f, begin, end)
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != 2 || reports[0].Domain != "example.com" || reports[1].Domain != "example.org" {
		t.Fatalf("reports %+v", reports)
	}
	a := reports[0]
	if a.Messages != 6 {
		t.Errorf("%d messages", a.Messages)
	}
	if want := "example.org!example.com!1699996400!1700082800.xml.gz"; a.Filename() != want {
		t.Errorf("filename %s", a.Filename())
	}
	if want := "Report Domain: example.com Submitter: example.org Report-ID: <example.com.1699996400.1700082800@example.org>"; a.Subject() != want {
		t.Errorf("subject %s", a.Subject())
	}
	zr, err := gzip.NewReader(bytes.NewReader(a.Gzip()))
	if err != nil {
		t.Fatal(err)
	}
	unz, _ := io.ReadAll(zr)
	if !bytes.Equal(unz, a.XML) {
		t.Error("gzip does not round-trip")
	}
	var fb feedback
	if err := xml.Unmarshal(a.XML, &fb); err != nil {
		t.Fatal(err)
	}
	if fb.Version != "1.0" || fb.Metadata.OrgName != "Example Receiver" || fb.Metadata.Email != "dmarc-reports@example.org" ||
		fb.Metadata.DateRange.Begin != begin.Unix() || fb.Policy.Domain != "example.com" || fb.Policy.P != "reject" ||
		fb.Policy.SP != "quarantine" || fb.Policy.Pct != 100 || fb.Policy.ADKIM != "r" {
		t.Errorf("report head %+v %+v", fb.Metadata, fb.Policy)
	}
	if len(fb.Records) != 4 {
		t.Fatalf("%d records:\n%s", len(fb.Records), a.XML)
	}
	pass := fb.Records[0]
	if pass.Row.Count != 3 || pass.Row.SourceIP != "192.0.2.1" || pass.Row.PolicyEvaluated.DKIM != "pass" ||
		pass.Row.PolicyEvaluated.SPF != "pass" || pass.Row.PolicyEvaluated.Disposition != "none" ||
		len(pass.AuthResults.DKIM) != 1 || pass.AuthResults.DKIM[0].Selector != "sel" || pass.AuthResults.SPF[0].Result != "pass" {
		t.Errorf("pass row %+v", pass)
	}
	if r := fb.Records[1]; r.Row.PolicyEvaluated.Disposition != "reject" || r.AuthResults.SPF[0].Domain != "example.net" ||
		r.AuthResults.SPF[0].Result != "fail" || r.Identifiers.EnvelopeFrom != "example.net" {
		t.Errorf("reject row %+v", r)
	}
	if r := fb.Records[2]; r.Row.PolicyEvaluated.Disposition != "none" || r.Identifiers.HeaderFrom != "news.example.com" ||
		len(r.Row.PolicyEvaluated.Reasons) != 1 || r.Row.PolicyEvaluated.Reasons[0].Type != "local_policy" {
		t.Errorf("unenforced row %+v", r)
	}
	if r := fb.Records[3]; r.Row.SourceIP != "2001:db8:0:0:0:0:0:1" {
		t.Errorf("IPv6 row %+v", r)
	}
}

// TestSendAggregate mails reports over SMTP to a sink and reads them
// back as a report consumer would (RFC 7489 section 7.2.1.1).
func TestSendAggregate(t *testing.T) {
	srv := world(t)
	sink := &smtptest.Sink{}
	smtpSrv := smtptest.Start(t, sink)
	path := reportHistory(t, srv)
	rp := NewReporter(&ReporterOptions{
		Email:    "dmarc-reports@example.org",
		Sender:   smtpSender(smtpSrv.Addr),
		Resolver: srv.Resolver(),
		Now:      func() time.Time { return fixedNow },
	})
	f, _ := os.Open(path)
	defer f.Close()
	reports, err := rp.AggregateReports(f, fixedNow.Add(-time.Hour), fixedNow.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range reports {
		if err := rp.SendAggregate(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	msgs := sink.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if m.From != "dmarc-reports@example.org" || len(m.To) != 1 || m.To[0] != "dmarc-feedback@example.com" {
		t.Errorf("envelope %s -> %v", m.From, m.To)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Subject") != reports[0].Subject() {
		t.Errorf("subject %q", msg.Header.Get("Subject"))
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var att []byte
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		if p.Header.Get("Content-Type") == `application/gzip; name="`+reports[0].Filename()+`"` && p.FileName() == reports[0].Filename() {
			att, _ = io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
		}
	}
	zr, err := gzip.NewReader(bytes.NewReader(att))
	if err != nil {
		t.Fatalf("attachment: %v", err)
	}
	x, _ := io.ReadAll(zr)
	if !bytes.Equal(x, reports[0].XML) {
		t.Error("attached report differs")
	}
}

// TestExternalDestinations checks RFC 7489 section 7.1: a report URI
// outside the policy domain needs the destination's consent in DNS; size
// limits and unsupported schemes skip a destination.
func TestExternalDestinations(t *testing.T) {
	srv := dnstest.Start(t, dnstest.Zone{Name: "thirdparty.example.net", Text: `
		example.com._report._dmarc  TXT "v=DMARC1"
		example.org._report._dmarc  TXT "something else"`})
	var sent []string
	rp := NewReporter(&ReporterOptions{
		Email:    "r@example.org",
		Resolver: srv.Resolver(),
		Sender: SenderFunc(func(_ context.Context, _ string, to []string, _ io.Reader) error {
			sent = append(sent, to...)
			return nil
		}),
	})
	a := &AggregateReport{Domain: "example.com", XML: []byte("<feedback/>"), URIs: []string{
		"mailto:dmarc@example.com",
		"mailto:a@thirdparty.example.net",
		"mailto:b@elsewhere.example",
		"mailto:c@mail.example.com!10",
		"https://example.com/reports",
	}}
	err := rp.SendAggregate(context.Background(), a)
	if strings.Join(sent, ",") != "dmarc@example.com,a@thirdparty.example.net" {
		t.Errorf("sent to %v", sent)
	}
	if !errors.Is(err, ErrUnauthorizedDestination) || !strings.Contains(err.Error(), "unsupported scheme") ||
		!strings.Contains(err.Error(), "over the 10-byte limit") {
		t.Errorf("error %v", err)
	}
	sent = nil
	a.Domain = "example.org"
	a.URIs = []string{"mailto:a@thirdparty.example.net"}
	if err := rp.SendAggregate(context.Background(), a); !errors.Is(err, ErrUnauthorizedDestination) || len(sent) != 0 {
		t.Errorf("example.org: %v, sent %v", err, sent)
	}
	if err := NewReporter(nil).SendAggregate(context.Background(), &AggregateReport{Domain: "example.com", URIs: []string{"mailto:a@example.com"}}); !errors.Is(err, ErrNoSender) {
		t.Errorf("no sender: %v", err)
	}
}
