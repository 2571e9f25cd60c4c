package requiretls

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

var headerCases = []struct {
	msg string
	no  bool
}{
	{"TLS-Required: No\r\nSubject: x\r\n\r\nbody\r\n", true},
	{"Subject: x\r\ntls-required:no\r\n\r\n", true},
	{"TLS-Required:\r\n  NO \r\n\r\n", true}, // folded
	{"TLS-Required : No\r\n\r\n", true},      // obsolete WSP before the colon
	{"TLS-Required: No\nTLS-Required: no\n\n", true},
	{"TLS-Required: No\r\nTLS-Required: Yes\r\n\r\n", false}, // all must say no
	{"TLS-Required: Yes\r\n\r\n", false},
	{"TLS-Required: No thanks\r\n\r\n", false},
	{"Subject: x\r\n\r\nTLS-Required: No\r\n", false}, // in the body
	{"Subject: x\r\n\r\n", false},
	{"", false},
	{"TLS-Required: No", true}, // no body, no CRLF
	{"X-TLS-Required: No\r\n\r\n", false},
	{"Subject: " + strings.Repeat("x", 5000) + "\r\nTLS-Required: No\r\n\r\n", true},
	{"Subject: x\r\n not a field\r\nbroken line\r\nTLS-Required: No\r\n\r\n", false},
}

func TestTLSRequiredNo(t *testing.T) {
	for _, c := range headerCases {
		for name, r := range map[string]io.Reader{
			"whole":    strings.NewReader(c.msg),
			"one byte": iotest.OneByteReader(strings.NewReader(c.msg)),
			"half":     iotest.HalfReader(strings.NewReader(c.msg)),
		} {
			no, err := TLSRequiredNo(r)
			if err != nil || no != c.no {
				t.Errorf("%s %.50q: %v, %v; want %v", name, c.msg, no, err, c.no)
			}
		}
	}
	if _, err := TLSRequiredNo(iotest.ErrReader(io.ErrUnexpectedEOF)); err == nil {
		t.Error("read error not reported")
	}
	if _, err := TLSRequiredNo(strings.NewReader(strings.Repeat("X: y\r\n", maxHeader/6+1))); err == nil {
		t.Error("endless header accepted")
	}
}

func TestDSNContent(t *testing.T) {
	for msg, want := range map[string]string{
		"Subject: x\r\nTo: y\r\n\r\nsecret body\r\n":         "Subject: x\r\nTo: y\r\n\r\n",
		"Subject: x\n\nsecret\n":                             "Subject: x\n\n",
		"Subject: x\r\n":                                     "Subject: x\r\n",
		"X: " + strings.Repeat("a", 5000) + "\r\n\r\nsecret": "X: " + strings.Repeat("a", 5000) + "\r\n\r\n",
		// Folded fields, white space before the colon (RFC 5322
		// section 4.5.8), a field name past the reader's buffer.
		"Subject: x\r\n folded\r\n\tmore\r\nTo : y\r\n\r\nbody": "Subject: x\r\n folded\r\n\tmore\r\nTo : y\r\n\r\n",
		"X-" + strings.Repeat("n", 5000) + ": v\r\n\r\nbody":    "X-" + strings.Repeat("n", 5000) + ": v\r\n\r\n",
		// A malformed message whose body starts without the empty
		// line: the header ends before the first line that is no
		// field (RFC 5322 section 2.2), and the body stays out.
		"Subject: x\r\nsecret body\r\nmore: secret\r\n": "Subject: x\r\n",
		"Subject: x\r\n: no name\r\n\r\nsecret":         "Subject: x\r\n",
		"Subject: x\r\nFrom a@b Mon 12:00\r\nsecret":    "Subject: x\r\n",
		"Subject: x\r\nS\xfcbject: secret\r\n\r\n":      "Subject: x\r\n",
		" folded first\r\nSubject: secret\r\n\r\n":      "",
		"Subject: x\r\nsecret":                          "Subject: x\r\n",
		"":                                              "",
	} {
		got, err := DSNContent(strings.NewReader(msg))
		if err != nil || string(got) != want {
			t.Errorf("DSNContent(%.30q) = %.30q, %v", msg, got, err)
		}
	}
	if _, err := DSNContent(strings.NewReader(strings.Repeat("X: y\r\n", maxHeader/6+1))); err == nil {
		t.Error("endless header accepted")
	}
}

// The scan gives one answer whatever the reads, and never reads past
// the header section's end.
func FuzzTLSRequiredNo(f *testing.F) {
	for _, c := range headerCases {
		f.Add(c.msg, uint8(3))
	}
	f.Fuzz(func(t *testing.T, msg string, split uint8) {
		whole, err := TLSRequiredNo(strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		var h headerScan
		b := []byte(msg)
		step := int(split%16) + 1
		for len(b) > 0 {
			n := min(step, len(b))
			h.write(b[:n])
			b = b[n:]
		}
		h.finish()
		if h.no() != whole {
			t.Fatalf("%q: chunks of %d say %v, whole %v", msg, step, h.no(), whole)
		}
		if whole && !strings.Contains(strings.ToLower(msg), "tls-required") {
			t.Fatalf("%q: no without a field", msg)
		}
		hdr, err := DSNContent(strings.NewReader(msg))
		if err != nil || !bytes.HasPrefix([]byte(msg), hdr) {
			t.Fatalf("DSNContent(%q) = %q, %v", msg, hdr, err)
		}
	})
}

func BenchmarkScan(b *testing.B) {
	msg := []byte(strings.Repeat("Received: from a by b with ESMTPS; Mon, 1 Jan 2024 00:00:00 +0000\r\n", 20) + "TLS-Required: No\r\n\r\n" + strings.Repeat("body line\r\n", 1000))
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		r := &scanReader{r: bytes.NewReader(msg), h: &headerScan{}, after: func() {}}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}
