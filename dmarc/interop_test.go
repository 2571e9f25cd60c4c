//go:build interop

package dmarc

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/internal/interop"
)

// The peers of these tests are Debian's libxml2-utils (xmllint),
// opendmarc (opendmarc-import, opendmarc-reports) with mariadb-server and
// mariadb-client, and python3-dkim (dkimsign).

// TestInteropAggregateSchema validates generated aggregate reports with
// xmllint against the RFC 7489 Appendix C schema (with its IP pattern and
// erratum 5229 fixed, see testdata/PROVENANCE.md).
func TestInteropAggregateSchema(t *testing.T) {
	interop.Need(t, "xmllint")
	srv := world(t)
	path := reportHistory(t, srv)
	rp := NewReporter(&ReporterOptions{Email: "dmarc-reports@example.org", OrgName: "Example & Co <receiver>", ExtraContactInfo: "https://example.org/dmarc"})
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	reports, err := rp.AggregateReports(f, fixedNow.Add(-time.Hour), fixedNow.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != 2 {
		t.Fatalf("%d reports", len(reports))
	}
	dir := t.TempDir()
	for _, a := range reports {
		file := filepath.Join(dir, strings.TrimSuffix(a.Filename(), ".gz"))
		if err := os.WriteFile(file, a.XML, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := interop.Run(t, time.Minute, "xmllint", "--noout", "--schema", "testdata/rfc7489-appendix-c-fixed.xsd", file)
		if err != nil || !strings.Contains(out, "validates") {
			t.Errorf("%s does not validate: %v\n%s\n%s", a.Domain, err, out, a.XML)
		}
	}
	// The check has teeth: a report with an element out of place fails.
	bad := bytes.Replace(reports[0].XML, []byte("<version>1.0</version>"), nil, 1)
	file := filepath.Join(dir, "bad.xml")
	if err := os.WriteFile(file, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := interop.Run(t, time.Minute, "xmllint", "--noout", "--schema", "testdata/rfc7489-appendix-c-fixed.xsd", file); err == nil {
		t.Errorf("a report without <version> validates:\n%s", out)
	}
}

// TestInteropOpenDMARC feeds a history file this package wrote to
// OpenDMARC's own pipeline: opendmarc-import loads it into MariaDB with
// no complaint and the expected rows, and opendmarc-reports mails an
// aggregate report for the test domain to a loopback SMTP sink.
func TestInteropOpenDMARC(t *testing.T) {
	db := interop.StartOpenDMARCDB(t)
	srv := world(t)
	now := time.Now()
	o := Options{Resolver: srv.Resolver(), Now: func() time.Time { return now }}
	e := New(&o)
	path := filepath.Join(db.Dir, "history")
	h, err := OpenHistory(path, "mx.example.org")
	if err != nil {
		t.Fatal(err)
	}
	signed := sign(t, message("From: joe@example.com"), "example.com")
	write := func(mailFrom string, spf *authres.SPFResult, msg string, action Policy) {
		t.Helper()
		if err := h.Write("", eval(t, e, mailFrom, spf, msg), action); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		write("joe@example.com", spfResult(authres.ResultPass, "joe@example.com"), signed, PolicyNone)
	}
	write("x@example.net", spfResult(authres.ResultFail, "x@example.net"), message("From: joe@example.com"), PolicyReject)
	write("", nil, sign(t, message("From: joe@news.example.com"), "example.net"), PolicyQuarantine)
	write("", nil, message("From: joe@example.org"), PolicyNone)
	write("", nil, message("From: joe@example.net"), PolicyNone)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}

	db.OpenDMARCImport(t, path)
	counts := db.SQL(t, "USE opendmarc; SELECT COUNT(*) FROM messages; SELECT COUNT(*) FROM signatures; "+
		"SELECT COUNT(*) FROM requests; SELECT COUNT(*) FROM messages WHERE disp = 0; SELECT COUNT(*) FROM messages WHERE disp = 4; "+
		"SELECT COUNT(*) FROM messages WHERE align_dkim = 4; SELECT repuri FROM requests JOIN domains ON requests.domain = domains.id WHERE domains.name = 'example.com'")
	want := "7\n4\n4\n1\n1\n3\nmailto:dmarc-feedback@example.com"
	if counts != want {
		t.Fatalf("rows:\n%s\nwant\n%s", counts, want)
	}

	x := db.OpenDMARCReport(t, "mx.example.org", "example.com", "dmarc-feedback@example.com")
	for _, want := range []string{"<domain>example.com</domain>", "<p>reject</p>", "<header_from>example.com</header_from>", "<disposition>reject</disposition>", "<selector>sel</selector>"} {
		if !strings.Contains(x, want) {
			t.Errorf("report lacks %s:\n%s", want, x)
		}
	}
	if n := strings.Count(x, "<record>"); n != 4 {
		t.Errorf("%d records in OpenDMARC's report, want 4:\n%s", n, x)
	}
}

// TestInteropDKIMPy evaluates messages signed by dkimpy's dkimsign: with
// the key in the test DNS, each is an aligned DKIM pass, directly and
// through the session wrapper.
func TestInteropDKIMPy(t *testing.T) {
	interop.Need(t, "dkimsign")
	key := interop.NewDKIMKey(t)
	record := key.Record
	srv := dnstest.Start(t, dnstest.Zone{Name: "example.com", Text: `
		_dmarc               TXT "v=DMARC1; p=reject; adkim=r"
		py._domainkey        TXT ` + record + `
		py._domainkey.mail   TXT ` + record})
	e := evaluator(srv, nil)

	dkimsign := func(domain string, canon ...string) string {
		t.Helper()
		msg := "From: Joe <joe@example.com>\r\nTo: ann@example.org\r\nSubject: signed by dkimpy\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n\r\nHello,\r\n\r\n  spaced   line  \r\n\r\n\r\n"
		return key.Sign(t, msg, "py", domain, canon...)
	}
	for _, tc := range []struct {
		name   string
		domain string
		canon  []string
	}{
		{"relaxed/simple, same domain", "example.com", nil},
		{"simple/simple", "example.com", []string{"--hcanon", "simple", "--bcanon", "simple"}},
		{"relaxed/relaxed, subdomain signer", "mail.example.com", []string{"--bcanon", "relaxed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := dkimsign(tc.domain, tc.canon...)
			r := eval(t, e, "bounce@elsewhere.example", spfResult(authres.ResultFail, "bounce@elsewhere.example"), msg)
			if r.Status != StatusAccept || !r.DKIMAligned || len(r.DKIM) != 1 || r.DKIM[0].Selector != "py" || r.DKIM[0].Domain != tc.domain {
				t.Fatalf("got %s, DKIM %+v", show(r), r.DKIM)
			}
			// The same through SMTP and the session wrapper, which
			// rejects what fails.
			rec := &recorder{}
			o := &SessionOptions{Evaluator: e, AuthServID: "mx.example.org", Reject: true}
			smtpSrv := startSession(t, rec, o)
			if rep := send(t, smtpSrv, "bounce@elsewhere.example", msg); rep.Code != 250 {
				t.Fatalf("reply %v", rep)
			}
			got := rec.deliveries()
			if len(got) != 1 || !strings.Contains(got[0].data, "dkim=pass header.d="+tc.domain+" header.s=py") ||
				!strings.Contains(got[0].data, "dmarc=pass header.from=example.com") {
				t.Fatalf("delivered %+v", got)
			}
			// A modified body no longer passes, and is rejected.
			broken := strings.Replace(msg, "Hello,", "Hullo,", 1)
			if rep := send(t, smtpSrv, "bounce@elsewhere.example", broken); rep.Code != 550 {
				t.Fatalf("modified message: reply %v", rep)
			}
		})
	}
}
