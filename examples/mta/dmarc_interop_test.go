//go:build interop

package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/dmarc"
	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/internal/interop"
)

// The peers of these tests are swaks, dkimpy's dkimsign (python3-dkim),
// OpenDMARC's opendmarc-import and opendmarc-reports with MariaDB, and
// xmllint (libxml2-utils). The MTA binary runs with -spf -spf-reject fail
// -dmarc -dmarc-history against the in-process DNS server; swaks connects
// from 127.0.0.1, the address the SPF records below allow or not.

// dmarcWorld is a running MTA with its DNS and what it wrote.
type dmarcWorld struct {
	dns     *dnstest.Server
	proc    *interop.Process
	addr    string
	data    string
	history string
	key     *interop.DKIMKey
}

// startDMARCWorld publishes the test domains and starts the MTA binary.
//
//	pass.test      SPF allows 127.0.0.1, p=reject, DKIM key, rua= its own
//	fail.test      SPF -all, p=reject
//	relay.test     SPF allows 127.0.0.1, no DMARC (a forwarder's bounces)
//	nospf.test     exists, no SPF, no DMARC
//	dkimonly.test  SPF -all, p=reject, DKIM key: only DKIM can align
//	org.test       p=none, sp=reject, rua= its own; sub.org.test exists
//	norecord.test  SPF allows 127.0.0.1, no DMARC
//	quar.test      p=quarantine, rua= at reports.test, which authorizes it
func startDMARCWorld(t *testing.T) *dmarcWorld {
	t.Helper()
	interop.Need(t, "swaks", "dkimsign")
	w := &dmarcWorld{key: interop.NewDKIMKey(t)}
	w.dns = dnstest.Start(t,
		dnstest.Zone{Name: "pass.test", Text: `
			@              TXT "v=spf1 ip4:127.0.0.1 -all"
			_dmarc         TXT "v=DMARC1; p=reject; rua=mailto:dmarc@pass.test"
			py._domainkey  TXT ` + w.key.Record},
		dnstest.Zone{Name: "fail.test", Text: `
			@              TXT "v=spf1 -all"
			_dmarc         TXT "v=DMARC1; p=reject"`},
		dnstest.Zone{Name: "relay.test", Text: `
			@              TXT "v=spf1 ip4:127.0.0.1 -all"`},
		dnstest.Zone{Name: "nospf.test", Text: `
			@              A   192.0.2.1`},
		dnstest.Zone{Name: "dkimonly.test", Text: `
			@              TXT "v=spf1 -all"
			_dmarc         TXT "v=DMARC1; p=reject"
			py._domainkey  TXT ` + w.key.Record},
		dnstest.Zone{Name: "org.test", Text: `
			_dmarc         TXT "v=DMARC1; p=none; sp=reject; rua=mailto:dmarc@org.test"
			sub            A   192.0.2.2`},
		dnstest.Zone{Name: "norecord.test", Text: `
			@              TXT "v=spf1 ip4:127.0.0.1 -all"`},
		dnstest.Zone{Name: "quar.test", Text: `
			@              TXT "v=spf1 -all"
			_dmarc         TXT "v=DMARC1; p=quarantine; rua=mailto:agg@reports.test"`},
		dnstest.Zone{Name: "reports.test", Text: `
			quar.test._report._dmarc TXT "v=DMARC1"`},
	)
	w.history = filepath.Join(t.TempDir(), "dmarc-history")
	w.proc, w.addr, w.data = startBinary(t, "-dns", w.dns.Addr(), "-spf", "-spf-reject", "fail",
		"-dmarc", "-dmarc-history", w.history)
	return w
}

// dmarcCase is one message swaks sends, and what the MTA must do with it.
type dmarcCase struct {
	name     string
	rcpt     string // local part at example.test; each case has its own mailbox
	mailFrom string
	from     string // the From: address
	signer   string // d= of dkimsign's signature, "" for none
	tamper   bool   // change the body after signing

	mail   string   // reply to MAIL FROM, code and enhanced code
	data   string   // reply to the end of data; "" when the transaction ended before
	folder string   // where the copy lands: "new" (the inbox), ".Junk/new", or "" for nowhere
	spf    string   // the SPF result in Received-SPF and Authentication-Results
	ar     []string // also in the Authentication-Results field of the copy
	action int      // the history record's action: 2 accept, 4 quarantine, 0 reject
}

// dmarcCases run in this order; the history and the OpenDMARC row counts
// follow from them.
var dmarcCases = []dmarcCase{{
	name: "SPF pass, aligned", rcpt: "aligned",
	mailFrom: "alice@pass.test", from: "alice@pass.test", signer: "pass.test",
	mail: "250", data: "250", folder: "new", spf: "pass", action: 2,
	ar: []string{"Authentication-Results: mx.test;", "smtp.mailfrom=alice@pass.test",
		"dkim=pass header.d=pass.test header.s=py", "dmarc=pass header.from=pass.test"},
}, {
	name: "SPF fail refused at MAIL", rcpt: "spffail",
	mailFrom: "mallory@fail.test", from: "mallory@fail.test",
	mail: "550 5.7.23",
}, {
	name: "DKIM-only alignment, MAIL FROM with SPF pass", rcpt: "dkimpass",
	mailFrom: "bounce@relay.test", from: "news@dkimonly.test", signer: "dkimonly.test",
	mail: "250", data: "250", folder: "new", spf: "pass", action: 2,
	ar: []string{"smtp.mailfrom=bounce@relay.test", "dkim=pass header.d=dkimonly.test header.s=py",
		"dmarc=pass header.from=dkimonly.test"},
}, {
	name: "DKIM-only alignment, MAIL FROM with SPF none", rcpt: "dkimnone",
	mailFrom: "bounce@nospf.test", from: "news@dkimonly.test", signer: "dkimonly.test",
	mail: "250", data: "250", folder: "new", spf: "none", action: 2,
	ar: []string{"dkim=pass header.d=dkimonly.test header.s=py", "dmarc=pass header.from=dkimonly.test"},
}, {
	name: "DKIM-only domain, body changed after signing", rcpt: "dkimbroken",
	mailFrom: "bounce@relay.test", from: "news@dkimonly.test", signer: "dkimonly.test", tamper: true,
	mail: "250", data: "550 5.7.1", action: 0,
}, {
	name: "subdomain under sp=reject, nothing aligned", rcpt: "subdomain",
	mailFrom: "bounce@relay.test", from: "alice@sub.org.test", signer: "pass.test",
	mail: "250", data: "550 5.7.1", action: 0,
}, {
	name: "organisational domain p=none, nothing aligned", rcpt: "orgnone",
	mailFrom: "bounce@relay.test", from: "alice@org.test",
	mail: "250", data: "250", folder: "new", spf: "pass", action: 2,
	ar: []string{"dmarc=fail header.from=org.test policy.dmarc=none"},
}, {
	name: "no DMARC record", rcpt: "norecord",
	mailFrom: "alice@norecord.test", from: "alice@norecord.test",
	mail: "250", data: "250", folder: "new", spf: "pass", action: 2,
	ar: []string{"dmarc=none header.from=norecord.test"},
}, {
	name: "p=quarantine failure", rcpt: "quarantine",
	mailFrom: "bounce@relay.test", from: "alice@quar.test",
	mail: "250", data: "250", folder: ".Junk/new", spf: "pass", action: 4,
	ar: []string{"dmarc=fail header.from=quar.test policy.dmarc=quarantine"},
}}

// sendCases has swaks deliver every case to the MTA and checks the
// replies and where each copy landed.
func (w *dmarcWorld) sendCases(t *testing.T) {
	t.Helper()
	for _, c := range dmarcCases {
		t.Run(c.name, func(t *testing.T) { w.send(t, c) })
	}
}

func (w *dmarcWorld) send(t *testing.T, c dmarcCase) {
	rcpt := c.rcpt + "@example.test"
	msg := "From: <" + c.from + ">\r\nTo: <" + rcpt + ">\r\nSubject: DMARC interop: " + c.name +
		"\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\nMessage-ID: <" + c.rcpt + "@client.test>\r\n\r\n" +
		"Hello,\r\n\r\n  spaced   line  \r\nlast line\r\n"
	if c.signer != "" {
		msg = w.key.Sign(t, msg, "py", c.signer)
	}
	if c.tamper {
		msg = strings.Replace(msg, "Hello,", "Hullo,", 1)
	}
	out, err := swaksData(t, w.addr, c.mailFrom, rcpt, msg)
	if got := swaksReply(out, "MAIL FROM:<"+c.mailFrom+">"); !strings.HasPrefix(got, c.mail+" ") {
		t.Fatalf("MAIL FROM reply %q, want %s (swaks: %v)\n%s", got, c.mail, err, out)
	}
	if c.data != "" {
		if got := swaksReply(out, "."); !strings.HasPrefix(got, c.data+" ") {
			t.Fatalf("end of data reply %q, want %s (swaks: %v)\n%s", got, c.data, err, out)
		}
	} else if strings.Contains(out, " -> DATA\n") {
		t.Fatalf("the transaction went on to DATA:\n%s", out)
	}
	if (err == nil) != (c.folder != "") {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	for _, folder := range []string{"new", ".Junk/new"} {
		copies := maildirFilesMaybe(w.data, filepath.Join(rcpt, filepath.Dir(folder)))
		if folder != c.folder {
			if len(copies) != 0 {
				t.Fatalf("%d copies in %s/%s, want none:\n%s", len(copies), rcpt, folder, copies[0])
			}
			continue
		}
		if len(copies) != 1 {
			t.Fatalf("%d copies in %s/%s, want 1", len(copies), rcpt, folder)
		}
		m, err := mail.ReadMessage(bytes.NewReader(copies[0]))
		if err != nil {
			t.Fatal(err)
		}
		ar := m.Header["Authentication-Results"]
		if len(ar) != 1 {
			t.Fatalf("%d Authentication-Results fields, want 1:\n%s", len(ar), copies[0])
		}
		field := "Authentication-Results: " + ar[0]
		for _, want := range append([]string{"spf=" + c.spf}, c.ar...) {
			if !strings.Contains(field, want) {
				t.Errorf("Authentication-Results lacks %q:\n%s", want, field)
			}
		}
		if rs := m.Header.Get("Received-SPF"); !strings.HasPrefix(rs, c.spf+" ") {
			t.Errorf("Received-SPF: %s, want %s", rs, c.spf)
		}
	}
}

// swaksReply returns the server's reply (its first line, without swaks's
// arrow) to the command swaks sent last as cmd, or "".
func swaksReply(transcript, cmd string) string {
	lines := strings.Split(transcript, "\n")
	reply := ""
	for i, l := range lines {
		if (l != " -> "+cmd && l != " ~> "+cmd) || i+1 == len(lines) {
			continue
		}
		for _, r := range lines[i+1:] {
			if strings.HasPrefix(r, "<") {
				reply = strings.TrimSpace(r[3:])
				break
			}
		}
	}
	return reply
}

// historyRecords splits a history file into records, key to values.
func historyRecords(t *testing.T, path string) []map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string][]string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		key, val, _ := strings.Cut(line, " ")
		if key == "job" {
			recs = append(recs, map[string][]string{})
		}
		if len(recs) == 0 {
			t.Fatalf("history does not start with a job line:\n%s", b)
		}
		recs[len(recs)-1][key] = append(recs[len(recs)-1][key], val)
	}
	return recs
}

// TestInteropDMARCSwaks delivers dkimpy-signed and unsigned messages with
// swaks under each combination of MAIL FROM and From, and checks the
// MTA's replies, the Maildir copies, their Authentication-Results and the
// history file.
func TestInteropDMARCSwaks(t *testing.T) {
	w := startDMARCWorld(t)
	w.sendCases(t)

	recs := historyRecords(t, w.history)
	var want, got []string
	for _, c := range dmarcCases {
		if c.data != "" {
			_, dom, _ := strings.Cut(c.from, "@")
			want = append(want, fmt.Sprintf("from=%s ipaddr=127.0.0.1 reporter=mx.test action=%d", dom, c.action))
		}
	}
	for _, r := range recs {
		got = append(got, fmt.Sprintf("from=%s ipaddr=%s reporter=%s action=%s",
			strings.Join(r["from"], ","), strings.Join(r["ipaddr"], ","), strings.Join(r["reporter"], ","), strings.Join(r["action"], ",")))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("history records:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestInteropDMARCOpenDMARC feeds the history file the MTA wrote to
// OpenDMARC's pipeline: opendmarc-import loads it into MariaDB with no
// complaint and the rows the cases imply, and opendmarc-reports mails an
// aggregate report for pass.test to a loopback sink.
func TestInteropDMARCOpenDMARC(t *testing.T) {
	db := interop.StartOpenDMARCDB(t)
	w := startDMARCWorld(t)
	w.sendCases(t)

	db.OpenDMARCImport(t, w.history)
	counts := db.SQL(t, "USE opendmarc; "+
		"SELECT COUNT(*) FROM messages; "+
		"SELECT COUNT(*) FROM signatures; "+
		"SELECT COUNT(*) FROM requests; "+
		"SELECT COUNT(*) FROM messages WHERE disp = 0; "+
		"SELECT COUNT(*) FROM messages WHERE disp = 4; "+
		"SELECT COUNT(*) FROM messages WHERE align_dkim = 4; "+
		"SELECT COUNT(*) FROM messages JOIN ipaddr ON messages.ip = ipaddr.id WHERE ipaddr.addr = '127.0.0.1'; "+
		"SELECT repuri FROM requests JOIN domains ON requests.domain = domains.id WHERE domains.name = 'pass.test'")
	// 8 messages reached DATA (SPF fail was refused at MAIL); 5 carried a
	// signature; 6 From domains; 2 rejected (the broken signature and
	// sp=reject), 1 quarantined; 3 aligned through DKIM.
	want := "8\n5\n6\n2\n1\n3\n8\nmailto:dmarc@pass.test"
	if counts != want {
		t.Fatalf("rows:\n%s\nwant\n%s", counts, want)
	}

	x := db.OpenDMARCReport(t, "mx.test", "pass.test", "dmarc@pass.test")
	for _, want := range []string{"<domain>pass.test</domain>", "<p>reject</p>", "<source_ip>127.0.0.1</source_ip>",
		"<header_from>pass.test</header_from>", "<disposition>none</disposition>", "<selector>py</selector>"} {
		if !strings.Contains(x, want) {
			t.Errorf("report lacks %s:\n%s", want, x)
		}
	}
	if n := strings.Count(x, "<record>"); n != 1 {
		t.Errorf("%d records in OpenDMARC's report, want 1:\n%s", n, x)
	}
}

// TestInteropDMARCAggregateSchema builds the aggregate reports from the
// history file the MTA wrote, the way -dmarc-reports does once a day (the
// binary has no way to send them at once: a dmarc.Reporter with the MTA's
// options stands in for its daily tick), sends them through a Sender that
// keeps them, and validates each gzipped XML attachment with xmllint
// against the RFC 7489 Appendix C schema.
func TestInteropDMARCAggregateSchema(t *testing.T) {
	interop.Need(t, "xmllint")
	w := startDMARCWorld(t)
	begin := time.Now().Add(-time.Hour)
	w.sendCases(t)
	end := time.Now().Add(time.Minute)

	type sent struct {
		from string
		to   []string
		msg  []byte
	}
	var mails []sent
	rp := dmarc.NewReporter(&dmarc.ReporterOptions{
		Email:    "dmarc-reports@mx.test",
		Resolver: w.dns.Resolver(),
		Sender: dmarc.SenderFunc(func(_ context.Context, from string, to []string, msg io.Reader) error {
			b, err := io.ReadAll(msg)
			mails = append(mails, sent{from, to, b})
			return err
		}),
	})
	f, err := os.Open(w.history)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	reports, err := rp.AggregateReports(f, begin, end)
	if err != nil {
		t.Fatal(err)
	}
	var domains []string
	for _, a := range reports {
		domains = append(domains, fmt.Sprintf("%s:%d", a.Domain, a.Messages))
		if err := rp.SendAggregate(context.Background(), a); err != nil {
			t.Fatalf("%s: %v", a.Domain, err)
		}
	}
	// Policy domains with rua=: org.test (sub.org.test and org.test),
	// pass.test, quar.test (to reports.test, which authorizes it).
	if got := strings.Join(domains, " "); got != "org.test:2 pass.test:1 quar.test:1" {
		t.Fatalf("reports: %s", got)
	}
	wantTo := map[string]string{"org.test": "dmarc@org.test", "pass.test": "dmarc@pass.test", "quar.test": "agg@reports.test"}
	if len(mails) != len(wantTo) {
		t.Fatalf("%d report mails, want %d", len(mails), len(wantTo))
	}
	schema, err := filepath.Abs("../../dmarc/testdata/rfc7489-appendix-c-fixed.xsd")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i, m := range mails {
		name, x := gzipAttachment(t, m.msg)
		domain := reports[i].Domain
		if m.from != "dmarc-reports@mx.test" || len(m.to) != 1 || m.to[0] != wantTo[domain] ||
			!strings.HasPrefix(name, "mx.test!"+domain+"!") {
			t.Errorf("report for %s: from %s to %v, file %s", domain, m.from, m.to, name)
		}
		if !bytes.Contains(x, []byte("<domain>"+domain+"</domain>")) || !bytes.Contains(x, []byte("<source_ip>127.0.0.1</source_ip>")) {
			t.Errorf("report for %s:\n%s", domain, x)
		}
		file := filepath.Join(dir, strings.TrimSuffix(name, ".gz"))
		if err := os.WriteFile(file, x, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := interop.Run(t, time.Minute, "xmllint", "--noout", "--schema", schema, file)
		if err != nil || !strings.Contains(out, "validates") {
			t.Errorf("report for %s does not validate: %v\n%s\n%s", domain, err, out, x)
		}
	}
}

// gzipAttachment returns the file name and the decompressed content of
// the application/gzip part of a report mail.
func gzipAttachment(t *testing.T, raw []byte) (string, []byte) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("no application/gzip part: %v\n%s", err, raw)
		}
		if ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct != "application/gzip" {
			continue
		}
		zr, err := gzip.NewReader(base64.NewDecoder(base64.StdEncoding, p))
		if err != nil {
			t.Fatal(err)
		}
		x, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return p.FileName(), x
	}
}
