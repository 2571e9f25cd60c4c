package interop

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// OpenDMARCSchema is the MySQL schema of OpenDMARC's database, as
// Debian's opendmarc package ships it.
const OpenDMARCSchema = "/usr/share/dbconfig-common/data/opendmarc/install/mysql"

// MariaDB is a MariaDB server of one test (Debian's mariadb-server), on a
// loopback port, with its data in a temporary directory.
type MariaDB struct {
	// Port is the loopback TCP port it listens on.
	Port int
	// Dir is the test's temporary directory that holds the data, the
	// socket and the error log; tests may put their own files there.
	Dir string
}

// StartMariaDB initialises a data directory and starts mariadbd on a free
// loopback port; it is stopped by its pid when the test ends. Grant tables
// are skipped: the server is the test's own, reachable from loopback only,
// and any user name logs in.
func StartMariaDB(t testing.TB) *MariaDB {
	t.Helper()
	Need(t, "mariadb-install-db", "mariadbd", "mariadb")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	var user []string
	if os.Geteuid() == 0 {
		user = []string{"--user=root"}
	}
	args := append([]string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal", "--skip-test-db"}, user...)
	if out, err := Run(t, 2*time.Minute, "mariadb-install-db", args...); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	db := &MariaDB{Port: FreePort(t), Dir: dir}
	args = append([]string{
		"--no-defaults",
		"--datadir=" + data,
		"--socket=" + filepath.Join(dir, "sock"),
		"--pid-file=" + filepath.Join(dir, "pid"),
		"--port=" + strconv.Itoa(db.Port),
		"--bind-address=127.0.0.1",
		"--skip-grant-tables",
		"--innodb-buffer-pool-size=16M",
		"--log-error=" + filepath.Join(dir, "error.log"),
	}, user...)
	Start(t, "mariadbd", args...)
	WaitPort(t, Addr(db.Port), time.Minute)
	return db
}

// SQL runs statements with the mariadb client and returns the output,
// tab-separated, without column names. A failure fails the test.
func (db *MariaDB) SQL(t testing.TB, stmts string) string {
	t.Helper()
	out, err := Run(t, time.Minute, "mariadb", "-h127.0.0.1", "-P"+strconv.Itoa(db.Port), "-uroot", "-N", "-B", "-e", stmts)
	if err != nil {
		t.Fatalf("mariadb %q: %v\n%s", stmts, err, out)
	}
	return strings.TrimSpace(out)
}

// StartOpenDMARCDB starts a MariaDB server (StartMariaDB) and loads
// OpenDMARC's schema into it: database opendmarc, as opendmarc-import(8)
// and opendmarc-reports(8) expect it.
func StartOpenDMARCDB(t testing.TB) *MariaDB {
	t.Helper()
	Need(t, "opendmarc-import", "opendmarc-reports")
	db := StartMariaDB(t)
	db.SQL(t, "source "+OpenDMARCSchema)
	return db
}

// OpenDMARCArgs are the database options of OpenDMARC's scripts.
func (db *MariaDB) OpenDMARCArgs() []string {
	return []string{"--dbhost=127.0.0.1", "--dbport=" + strconv.Itoa(db.Port), "--dbuser=root", "--dbpasswd=unused", "--dbname=opendmarc"}
}

// OpenDMARCImport loads a history file with opendmarc-import(8). An exit
// status other than 0, or any output (the script complains on stdout and
// stderr about records it cannot use), fails the test.
func (db *MariaDB) OpenDMARCImport(t testing.TB, history string) {
	t.Helper()
	out, err := Run(t, time.Minute, "opendmarc-import", append(db.OpenDMARCArgs(), "--input="+history)...)
	if err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("opendmarc-import %s: %v\n%s", history, err, out)
	}
}

// OpenDMARCReport runs opendmarc-reports(8) over the database as the
// reporting organisation org (report email dmarc-reports@org), mailing
// the reports to an SMTP sink on loopback, and returns the XML of the
// report for domain sent to rua. A non-zero exit, a "failed" in its
// output, or no such report fails the test. It runs in db.Dir, where it
// leaves its report files.
func (db *MariaDB) OpenDMARCReport(t testing.TB, org, domain, rua string) string {
	t.Helper()
	sink := &smtptest.Sink{}
	srv := smtptest.Start(t, sink)
	host, port, err := net.SplitHostPort(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "opendmarc-reports", append(db.OpenDMARCArgs(),
		"--utc", "--verbose", "--report-org="+org, "--report-email=dmarc-reports@"+org,
		"--smtp-server="+host, "--smtp-port="+port)...)
	cmd.Dir = db.Dir
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), "failed") {
		t.Fatalf("opendmarc-reports: %v\n%s", err, out)
	}
	want := []byte("Report Domain: " + domain + " Submitter: " + org)
	for _, m := range sink.Messages() {
		if len(m.To) == 1 && m.To[0] == rua && bytes.Contains(m.Data, want) {
			return reportXML(t, m.Data)
		}
	}
	t.Fatalf("no report for %s to %s among %d messages\n%s", domain, rua, len(sink.Messages()), out)
	return ""
}

// reportXML extracts the XML from the zip attachment of a report email
// that opendmarc-reports sent.
func reportXML(t testing.TB, raw []byte) string {
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
		x, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return string(x)
	}
}
