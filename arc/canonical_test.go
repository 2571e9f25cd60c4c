package arc

import (
	"bytes"
	"crypto/sha256"
	"hash"
	"regexp"
	"strings"
	"testing"
)

// refBody is a plain, unstreamed canonicalisation (RFC 6376 sections
// 3.4.3 and 3.4.4) to check bodyHasher against.
func refBody(body string, c canon) string {
	// Bare LF is a line break, as on the wire.
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		if body[i] == '\n' && (i == 0 || body[i-1] != '\r') {
			b.WriteByte('\r')
		}
		b.WriteByte(body[i])
	}
	s := b.String()
	if c == relaxed {
		lines := strings.Split(s, "\r\n")
		for i, l := range lines {
			l = wspRun.ReplaceAllString(l, " ")
			lines[i] = strings.TrimRight(l, " ")
		}
		s = strings.Join(lines, "\r\n")
		for strings.HasSuffix(s, "\r\n") {
			s = strings.TrimSuffix(s, "\r\n")
		}
		if s != "" {
			s += "\r\n"
		}
		return s
	}
	for strings.HasSuffix(s, "\r\n") {
		s = strings.TrimSuffix(s, "\r\n")
	}
	return s + "\r\n"
}

var wspRun = regexp.MustCompile(`[ \t]+`)

// recorder is a hash.Hash that keeps what it is given.
type recorder struct{ buf bytes.Buffer }

var _ hash.Hash = (*recorder)(nil)

func (r *recorder) Write(p []byte) (int, error) { return r.buf.Write(p) }
func (r *recorder) Sum(b []byte) []byte         { return append(b, r.buf.Bytes()...) }
func (r *recorder) Reset()                      { r.buf.Reset() }
func (r *recorder) Size() int                   { return 0 }
func (r *recorder) BlockSize() int              { return 1 }

// streamBody canonicalises body through a bodyHasher, written in pieces
// cut at the given points.
func streamBody(body string, c canon, limit int64, cuts []int) string {
	rec := &recorder{}
	h := newBodyHasher(rec, c, limit)
	rest := body
	for _, n := range cuts {
		n = min(n, len(rest))
		h.Write([]byte(rest[:n]))
		rest = rest[n:]
	}
	h.Write([]byte(rest))
	return string(h.Sum())
}

func TestBodyCanon(t *testing.T) {
	tests := []struct {
		body, simple, relaxed string
	}{
		{"", "\r\n", ""},
		{"\r\n", "\r\n", ""},
		{"\r\n\r\n\r\n", "\r\n", ""},
		{"a", "a\r\n", "a\r\n"},
		{"a\r\n", "a\r\n", "a\r\n"},
		{"a\n\n", "a\r\n", "a\r\n"},
		// RFC 6376 section 3.4.6, the example body.
		{" C \r\nD \t E\r\n\r\n\r\n", " C \r\nD \t E\r\n", " C\r\nD E\r\n"},
		{"a  b\t\tc \r\n", "a  b\t\tc \r\n", "a b c\r\n"},
		{"a\r\n \r\n\t\r\nb", "a\r\n \r\n\t\r\nb\r\n", "a\r\n\r\n\r\nb\r\n"},
		{"a\rb\r", "a\rb\r\r\n", "a\rb\r\r\n"},
		{"a \rb", "a \rb\r\n", "a \rb\r\n"},
		{"x\n y\n", "x\r\n y\r\n", "x\r\n y\r\n"},
		{"  \r\n", "  \r\n", ""},
		{"\x00 \x01", "\x00 \x01\r\n", "\x00 \x01\r\n"},
	}
	for _, tc := range tests {
		for _, c := range []canon{simple, relaxed} {
			want := tc.simple
			if c == relaxed {
				want = tc.relaxed
			}
			if ref := refBody(tc.body, c); ref != want {
				t.Errorf("reference %s(%q) = %q, want %q", c, tc.body, ref, want)
			}
			for cut := 0; cut <= len(tc.body); cut++ {
				if got := streamBody(tc.body, c, -1, []int{cut}); got != want {
					t.Errorf("%s(%q) cut at %d = %q, want %q", c, tc.body, cut, got, want)
				}
			}
		}
	}
}

func TestBodyLimit(t *testing.T) {
	body := "hello  world\r\nsecond line\r\n\r\n"
	for _, c := range []canon{simple, relaxed} {
		full := refBody(body, c)
		for l := 0; l <= len(full)+2; l++ {
			want := full[:min(l, len(full))]
			if got := streamBody(body, c, int64(l), []int{3, 7}); got != want {
				t.Errorf("%s l=%d: %q, want %q", c, l, got, want)
			}
		}
	}
}

// FuzzBodyCanon checks the streaming canonicalisation against the plain
// one, for any body written in any pieces.
func FuzzBodyCanon(f *testing.F) {
	f.Add("a  b\r\n\r\n", uint8(3), uint8(1))
	f.Add(" C \r\nD \t E\r\n\r\n\r\n", uint8(0), uint8(9))
	f.Add("x\ry\n\n z \t\r", uint8(5), uint8(2))
	f.Add(strings.Repeat("The quick  brown fox\r\n", 5), uint8(17), uint8(40))
	f.Fuzz(func(t *testing.T, body string, cut1, cut2 uint8) {
		for _, c := range []canon{simple, relaxed} {
			want := refBody(body, c)
			got := streamBody(body, c, -1, []int{int(cut1), int(cut2)})
			if got != want {
				t.Fatalf("%s(%q) in pieces %d, %d:\n got %q\nwant %q", c, body, cut1, cut2, got, want)
			}
		}
	})
}

func TestBodyHashLongRuns(t *testing.T) {
	// Runs longer than the word-at-a-time scan, with every kind of
	// change at every offset.
	base := []byte(strings.Repeat("abcdefgh ", 12))
	for _, ins := range []string{"  ", "\t", " \r\n", "\r\n\r\n", "\n", "\r", " \r", "\x01", "\r\n ",
		" !", "\x01!", "\t!", "\r\n!", " \x01", "\x1f ", "\r\n\x01"} {
		for off := 0; off <= len(base); off++ {
			body := string(base[:off]) + ins + string(base[off:]) + "\r\n"
			for _, c := range []canon{simple, relaxed} {
				want := refBody(body, c)
				if got := streamBody(body, c, -1, nil); got != want {
					t.Fatalf("%s(%q):\n got %q\nwant %q", c, body, got, want)
				}
			}
		}
	}
}

func TestBodyHashManyLines(t *testing.T) {
	// Line breaks at every offset of the scan's window, with and without
	// something to change next to them.
	for _, tail := range []string{"", " ", "\t", " !", "!"} {
		var b strings.Builder
		for n := 1; n < 80; n++ {
			b.WriteString(strings.Repeat("x", n))
			b.WriteString(tail)
			b.WriteString("\r\n")
		}
		body := b.String()
		for _, c := range []canon{simple, relaxed} {
			want := refBody(body, c)
			if got := streamBody(body, c, -1, nil); got != want {
				t.Fatalf("%s, lines ending %q: got %q\nwant %q", c, tail, got, want)
			}
		}
	}
}

func TestBodyHashSHA(t *testing.T) {
	// RFC 6376 section 3.4.4: the empty body hashes to the hash of "" in
	// relaxed, of CRLF in simple.
	for _, tc := range []struct {
		c    canon
		want [32]byte
	}{{relaxed, sha256.Sum256(nil)}, {simple, sha256.Sum256([]byte("\r\n"))}} {
		h := newBodyHasher(sha256.New(), tc.c, -1)
		if got := h.Sum(); !bytes.Equal(got, tc.want[:]) {
			t.Errorf("%s empty body hash %x, want %x", tc.c, got, tc.want)
		}
	}
}

func TestHeaderCanon(t *testing.T) {
	tests := []struct {
		raw, simple, relaxed string
	}{
		{"Subject: hi", "Subject: hi\r\n", "subject:hi\r\n"},
		// RFC 6376 section 3.4.6, the example header.
		{"A: X", "A: X\r\n", "a:X\r\n"},
		{"B : Y\t\r\n\tZ  ", "B : Y\t\r\n\tZ  \r\n", "b:Y Z\r\n"},
		{"X-Lf: a\n b", "X-Lf: a\r\n b\r\n", "x-lf:a b\r\n"},
		{"Empty:", "Empty:\r\n", "empty:\r\n"},
		{"Empty:  \r\n ", "Empty:  \r\n \r\n", "empty:\r\n"},
	}
	for _, tc := range tests {
		if got := string(appendHeader(nil, []byte(tc.raw), simple)); got != tc.simple {
			t.Errorf("simple(%q) = %q, want %q", tc.raw, got, tc.simple)
		}
		if got := string(appendHeader(nil, []byte(tc.raw), relaxed)); got != tc.relaxed {
			t.Errorf("relaxed(%q) = %q, want %q", tc.raw, got, tc.relaxed)
		}
	}
}

func TestRemoveSigValue(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"ARC-Seal: i=1; b=abc; cv=none", "ARC-Seal: i=1; b=; cv=none"},
		{"ARC-Seal: i=1; cv=none; b=\r\n\tab\r\n\tcd", "ARC-Seal: i=1; cv=none; b="},
		{"X: bh=xyz; b = q ; d=x", "X: bh=xyz; b =; d=x"},
		{"X: bh=xyz", "X: bh=xyz"},
	}
	for _, tc := range tests {
		f := textField(tc.raw)
		if got := string(removeSigValue(f.raw, f.colon)); got != tc.want {
			t.Errorf("removeSigValue(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}

func TestParseCanon(t *testing.T) {
	for _, tc := range []struct {
		v    string
		h, b canon
		ok   bool
	}{
		{"relaxed/relaxed", relaxed, relaxed, true},
		{"relaxed", relaxed, simple, true},
		{"simple/relaxed", simple, relaxed, true},
		{"", 0, 0, false},
		{"Relaxed", 0, 0, false},
		{"relaxed/", 0, 0, false},
	} {
		h, b, err := parseCanon(tc.v)
		if (err == nil) != tc.ok || tc.ok && (h != tc.h || b != tc.b) {
			t.Errorf("parseCanon(%q) = %v, %v, %v", tc.v, h, b, err)
		}
	}
}
