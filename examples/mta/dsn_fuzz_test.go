package main

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"
)

// statusField is RFC 3463 section 2: class "." subject "." detail, each
// of one to three digits, the class 2, 4 or 5.
var statusField = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}$`)

// FuzzDSNHeaderCopy builds a DSN around an arbitrary original message and
// an arbitrary last reply, as a remote server and a sender control them,
// and checks that the DSN is valid SMTP data (CRLF lines of at most 998
// bytes, RFC 5322 section 2.1.1; no NUL, no bare CR or LF), parses as the
// three parts of RFC 6522, returns only the original's header section,
// and carries an RFC 3463 status.
func FuzzDSNHeaderCopy(f *testing.F) {
	f.Add([]byte("Received: from a\r\n\tby b\r\nSubject: hi\r\n\r\nsecret body\r\n"), "550 5.1.1 No such user")
	f.Add([]byte("Subject: lf only\nFrom: x\n\nbody\n"), "452 4.2.2 full")
	f.Add([]byte("X: "+strings.Repeat("y", 3000)+"\r\n\r\n"), "451 4.4.2 mx [127.0.0.1:25]: dial tcp: refused")
	f.Add([]byte("A: b\rc\x00d\r\n\r\n"), "550 5.1.1xyz bad")
	f.Add([]byte(strings.Repeat("H: v\r\n", 200)), "retry time exceeded (5d); last: 451 4.4.1 no host")
	f.Add([]byte("\r\nbody only\r\n"), "554 5.999999.1 odd")
	f.Add([]byte("Subject: =?utf-8?q?x?=\r\n--dsn-boundary\r\n\r\n"), "garbage")
	f.Fuzz(func(t *testing.T, original []byte, reply string) {
		q := &queued{ID: "ID1", From: "sender@example.test", Arrived: time.Unix(0, 0)}
		r := &queuedRcpt{Addr: "rcpt@remote.test", State: stateFailed, LastReply: reply, RemoteMTA: "mx.remote.test"}
		dsn, err := buildDSN("mx.test", q, []*queuedRcpt{r}, bytes.NewReader(original), time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		checkSMTPData(t, dsn)
		msg, err := mail.ReadMessage(bytes.NewReader(dsn))
		if err != nil {
			t.Fatalf("DSN does not parse: %v", err)
		}
		mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
			t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
		}
		mr := multipart.NewReader(msg.Body, params["boundary"])
		var parts []string
		for _, want := range []string{"text/plain", "message/delivery-status", "text/rfc822-headers"} {
			p, err := mr.NextPart()
			if err != nil {
				t.Fatalf("part %s: %v", want, err)
			}
			if got, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); got != want {
				t.Fatalf("part %q, want %q", got, want)
			}
			b, err := io.ReadAll(p)
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, string(b))
		}
		if _, err := mr.NextPart(); err != io.EOF {
			t.Fatalf("more than three parts: %v", err)
		}
		var status string
		for _, line := range strings.Split(parts[1], "\r\n") {
			if s, ok := strings.CutPrefix(line, "Status: "); ok {
				status = s
			}
		}
		if !statusField.MatchString(status) {
			t.Fatalf("Status %q is not RFC 3463", status)
		}
		// The copy: lines of the original's header section, nothing of
		// its body, no empty line.
		hdr := original
		if i := bytes.Index(hdr, []byte("\n\n")); i >= 0 {
			hdr = hdr[:i]
		}
		if i := bytes.Index(hdr, []byte("\r\n\r\n")); i >= 0 {
			hdr = hdr[:i]
		}
		if len(parts[2]) > maxDSNHeaders+maxDSNHeaders/maxDSNLine*3+2 {
			t.Fatalf("header copy of %d bytes", len(parts[2]))
		}
		san, pos := sanitized(hdr), 0
		for _, line := range strings.Split(strings.TrimSuffix(parts[2], "\r\n"), "\r\n") {
			if parts[2] == "" {
				break
			}
			if line == "" {
				t.Fatal("an empty line in the header copy")
			}
			// In order: each line (a cut one without the space that
			// makes it a continuation) after the one before.
			frag := []byte(strings.TrimPrefix(line, " "))
			i := bytes.Index(san[pos:], frag)
			if i < 0 {
				t.Fatalf("header copy line %q is not from the header section", line)
			}
			pos += i + len(frag)
		}
	})
}

// sanitized is b with the substitutions the copy makes: controls but
// HTAB and LF as "?".
func sanitized(b []byte) []byte {
	out := bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	for i, c := range out {
		if c < 0x20 && c != '\t' && c != '\n' || c == 0x7f {
			out[i] = '?'
		}
	}
	return out
}

// checkSMTPData fails unless b is CRLF-ended lines of at most 998 bytes
// with no NUL and no bare CR or LF.
func checkSMTPData(t *testing.T, b []byte) {
	t.Helper()
	if !bytes.HasSuffix(b, []byte("\r\n")) {
		t.Fatal("DSN does not end with CRLF")
	}
	for i, line := range bytes.Split(b[:len(b)-2], []byte("\r\n")) {
		if len(line) > 998 {
			t.Fatalf("line %d of %d bytes", i, len(line))
		}
		if j := bytes.IndexAny(line, "\r\n\x00"); j >= 0 {
			t.Fatalf("line %d holds %q: %q", i, line[j], line)
		}
	}
}

// The copy stops at maxDSNHeaders bytes of the original, within a line or
// not, and still ends with CRLF.
func TestDSNHeaderCopyBounded(t *testing.T) {
	for _, original := range []string{
		strings.Repeat("H: v\r\n", 20000),
		"X: " + strings.Repeat("y", 2*maxDSNHeaders) + "\r\n\r\n",
	} {
		var b bytes.Buffer
		if err := copyHeaderSection(&b, strings.NewReader(original)); err != nil {
			t.Fatal(err)
		}
		if b.Len() < maxDSNHeaders-10 || b.Len() > maxDSNHeaders+maxDSNHeaders/maxDSNLine*3+2 {
			t.Fatalf("copy of %d bytes", b.Len())
		}
		checkSMTPData(t, b.Bytes())
	}
}

// A message without an empty line after its header section still has a
// body: the first line that is no header field (RFC 5322 section 2.2)
// ends the copy, so the body of a malformed message stays out of the DSN.
func TestDSNHeaderCopyStopsAtBody(t *testing.T) {
	for original, want := range map[string]string{
		"Subject: hi\r\nsecret body line\r\nX-Looks: like a field\r\n": "Subject: hi\r\n",
		"Subject: hi\r\n folded\r\n\tmore\r\nFrom: a\r\n\r\nbody\r\n":  "Subject: hi\r\n folded\r\n\tmore\r\nFrom: a\r\n",
		" starts folded: v\r\nSubject: x\r\n":                          "",
		"Bad name: v\r\nSubject: x\r\n":                                "",
		":empty name\r\nSubject: x\r\n":                                "",
		"From x@y Mon Jan  1\r\nSubject: x\r\n":                        "",
	} {
		var b bytes.Buffer
		if err := copyHeaderSection(&b, strings.NewReader(original)); err != nil {
			t.Fatal(err)
		}
		if b.String() != want {
			t.Errorf("copy of %q = %q, want %q", original, b.String(), want)
		}
	}
}
