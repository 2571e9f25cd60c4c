//go:build interop

package dmarc

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/internal/interop"
	"github.com/smtpkit/smtpkit/internal/smtptest"
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

// mariaDB is a MariaDB server of one test, on a loopback port, with its
// data in a temporary directory.
type mariaDB struct {
	port int
	dir  string
}

// startMariaDB initialises a data directory, starts mariadbd on a free
// loopback port (it is stopped by its pid when the test ends) and loads
// OpenDMARC's schema. Grant tables are skipped: the server is the test's
// own, reachable from loopback only.
func startMariaDB(t *testing.T) *mariaDB {
	t.Helper()
	interop.Need(t, "mariadb-install-db", "mariadbd", "mariadb")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	var user []string
	if os.Geteuid() == 0 {
		user = []string{"--user=root"}
	}
	args := append([]string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal", "--skip-test-db"}, user...)
	if out, err := interop.Run(t, 2*time.Minute, "mariadb-install-db", args...); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	db := &mariaDB{port: interop.FreePort(t), dir: dir}
	args = append([]string{
		"--no-defaults",
		"--datadir=" + data,
		"--socket=" + filepath.Join(dir, "sock"),
		"--pid-file=" + filepath.Join(dir, "pid"),
		"--port=" + strconv.Itoa(db.port),
		"--bind-address=127.0.0.1",
		"--skip-grant-tables",
		"--innodb-buffer-pool-size=16M",
		"--log-error=" + filepath.Join(dir, "error.log"),
	}, user...)
	interop.Start(t, "mariadbd", args...)
	interop.WaitPort(t, interop.Addr(db.port), time.Minute)
	db.sql(t, "source /usr/share/dbconfig-common/data/opendmarc/install/mysql")
	return db
}

// sql runs statements with the mariadb client and returns the output,
// tab-separated, without column names.
func (db *mariaDB) sql(t *testing.T, stmts string) string {
	t.Helper()
	out, err := interop.Run(t, time.Minute, "mariadb", "-h127.0.0.1", "-P"+strconv.Itoa(db.port), "-uroot", "-N", "-B", "-e", stmts)
	if err != nil {
		t.Fatalf("mariadb %q: %v\n%s", stmts, err, out)
	}
	return strings.TrimSpace(out)
}

// dbArgs are the connection options of OpenDMARC's scripts.
func (db *mariaDB) dbArgs() []string {
	return []string{"--dbhost=127.0.0.1", "--dbport=" + strconv.Itoa(db.port), "--dbuser=root", "--dbpasswd=unused", "--dbname=opendmarc"}
}

// TestInteropOpenDMARC feeds a history file this package wrote to
// OpenDMARC's own pipeline: opendmarc-import loads it into MariaDB with
// no complaint and the expected rows, and opendmarc-reports mails an
// aggregate report for the test domain to a loopback SMTP sink.
func TestInteropOpenDMARC(t *testing.T) {
	interop.Need(t, "opendmarc-import", "opendmarc-reports")
	db := startMariaDB(t)
	srv := world(t)
	now := time.Now()
	o := Options{Resolver: srv.Resolver(), Now: func() time.Time { return now }}
	e := New(&o)
	path := filepath.Join(db.dir, "history")
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

	out, err := interop.Run(t, time.Minute, "opendmarc-import", append(db.dbArgs(), "--input="+path)...)
	if err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("opendmarc-import: %v\n%s", err, out)
	}
	counts := db.sql(t, "USE opendmarc; SELECT COUNT(*) FROM messages; SELECT COUNT(*) FROM signatures; "+
		"SELECT COUNT(*) FROM requests; SELECT COUNT(*) FROM messages WHERE disp = 0; SELECT COUNT(*) FROM messages WHERE disp = 4; "+
		"SELECT COUNT(*) FROM messages WHERE align_dkim = 4; SELECT repuri FROM requests JOIN domains ON requests.domain = domains.id WHERE domains.name = 'example.com'")
	want := "7\n4\n4\n1\n1\n3\nmailto:dmarc-feedback@example.com"
	if counts != want {
		t.Fatalf("rows:\n%s\nwant\n%s", counts, want)
	}

	sink := &smtptest.Sink{}
	smtpSrv := smtptest.Start(t, sink)
	_, port, _ := strings.Cut(smtpSrv.Addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "opendmarc-reports", append(db.dbArgs(),
		"--utc", "--verbose", "--report-org=mx.example.org", "--report-email=dmarc-reports@mx.example.org",
		"--smtp-server=127.0.0.1", "--smtp-port="+port)...)
	cmd.Dir = db.dir // it writes its report files there
	rout, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(rout), "failed") {
		t.Fatalf("opendmarc-reports: %v\n%s", err, rout)
	}
	var report *smtptest.Message
	for _, m := range sink.Messages() {
		if len(m.To) == 1 && m.To[0] == "dmarc-feedback@example.com" && bytes.Contains(m.Data, []byte("Report Domain: example.com Submitter: mx.example.org")) {
			report = &m
		}
	}
	if report == nil {
		t.Fatalf("no report for example.com among %d messages\n%s", len(sink.Messages()), rout)
	}
	x := zippedReport(t, report.Data)
	for _, want := range []string{"<domain>example.com</domain>", "<p>reject</p>", "<header_from>example.com</header_from>", "<disposition>reject</disposition>", "<selector>sel</selector>"} {
		if !strings.Contains(x, want) {
			t.Errorf("report lacks %s:\n%s", want, x)
		}
	}
	if n := strings.Count(x, "<record>"); n != 4 {
		t.Errorf("%d records in OpenDMARC's report, want 4:\n%s", n, x)
	}
}

// zippedReport extracts the XML of the zip attachment of a report that
// opendmarc-reports sent.
func zippedReport(t *testing.T, raw []byte) string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))))
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
			t.Fatalf("no zip attachment: %v", err)
		}
		if p.Header.Get("Content-Type") != "application/zip" {
			continue
		}
		z, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
		if err != nil || len(zr.File) != 1 {
			t.Fatalf("zip: %v", err)
		}
		rc, err := zr.File[0].Open()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		x, _ := io.ReadAll(rc)
		return string(x)
	}
}

// TestInteropDKIMPy evaluates messages signed by dkimpy's dkimsign: with
// the key in the test DNS, each is an aligned DKIM pass, directly and
// through the session wrapper.
func TestInteropDKIMPy(t *testing.T) {
	interop.Need(t, "dkimsign")
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	p := base64.StdEncoding.EncodeToString(pub)
	record := `"v=DKIM1; k=rsa; p=` + p[:200] + `" "` + p[200:] + `"`
	srv := dnstest.Start(t, dnstest.Zone{Name: "example.com", Text: `
		_dmarc               TXT "v=DMARC1; p=reject; adkim=r"
		py._domainkey        TXT ` + record + `
		py._domainkey.mail   TXT ` + record})
	e := evaluator(srv, nil)

	dkimsign := func(domain string, canon ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		args := append(canon, "py", domain, keyFile)
		cmd := exec.CommandContext(ctx, "dkimsign", args...)
		msg := "From: Joe <joe@example.com>\r\nTo: ann@example.org\r\nSubject: signed by dkimpy\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n\r\nHello,\r\n\r\n  spaced   line  \r\n\r\n\r\n"
		cmd.Stdin = strings.NewReader(msg)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("dkimsign: %v\n%s", err, errOut.String())
		}
		if !strings.HasPrefix(out.String(), "DKIM-Signature:") {
			t.Fatalf("dkimsign output:\n%s", out.String())
		}
		// dkimsign passes the message through as given; make sure the
		// line ends are CRLF, as SMTP carries them.
		s := strings.ReplaceAll(out.String(), "\r\n", "\n")
		return strings.ReplaceAll(s, "\n", "\r\n")
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
