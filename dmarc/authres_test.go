package dmarc

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"
)

func TestAuthservID(t *testing.T) {
	for in, want := range map[string]string{
		"mx.example.org; spf=pass":           "mx.example.org",
		"  mx.example.org 1; none":           "mx.example.org",
		"(comment (nested)) mx.example.org;": "mx.example.org",
		"\"mx.example.org\"; dkim=pass":      "mx.example.org",
		"\"a\\\"b\";":                        "a\"b",
		"mx.example.org(comment); none":      "mx.example.org",
		"":                                   "",
		"(unterminated":                      "",
		"\"unterminated":                     "",
	} {
		if got := authservID(in); got != want {
			t.Errorf("authservID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFormatAuthResults(t *testing.T) {
	if got := FormatAuthResults("mx.example.org", nil); got != "Authentication-Results: mx.example.org; none\r\n" {
		t.Errorf("no results: %q", got)
	}
	r := &Result{
		Value: authres.ResultFail, FromDomain: "example.com", DomainPolicy: PolicyReject, Disposition: PolicyQuarantine,
		Record: &Record{}, DKIM: []DKIMResult{{Domain: "example.net", Selector: "s1", Result: authres.ResultPermError, Err: errString("dkim: no key for signature")}},
	}
	got := FormatAuthResults("mx.example.org", r.AuthResults())
	want := "Authentication-Results: mx.example.org;\r\n" +
		"\tdkim=permerror reason=\"no key for signature\" header.d=example.net header.s=s1;\r\n" +
		"\tdmarc=fail header.from=example.com policy.dmarc=quarantine\r\n"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	if ar := r.AuthResult(); ar.Reason != "p=reject dis=quarantine" || ar.From != "example.com" {
		t.Errorf("AuthResult %+v", ar)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// TestSpool keeps small messages in memory and large ones in a file that
// can be read more than once and is removed.
func TestSpool(t *testing.T) {
	dir := t.TempDir()
	s := &spool{dir: dir, limit: 10}
	io.WriteString(s, "0123456789")
	if s.f != nil {
		t.Fatal("spilled at the limit")
	}
	io.WriteString(s, "abc")
	if s.f == nil {
		t.Fatal("did not spill past the limit")
	}
	for range 2 {
		b, _ := io.ReadAll(s.reader())
		if string(b) != "0123456789abc" {
			t.Fatalf("read %q", b)
		}
	}
	name := s.f.Name()
	s.close()
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Errorf("spool file left: %v", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left %v", left)
	}
	bad := &spool{dir: dir + "/missing", limit: 1}
	if _, err := io.WriteString(bad, strings.Repeat("x", 5)); err == nil {
		t.Error("no error for an unwritable spool directory")
	}
}
