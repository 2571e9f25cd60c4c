package requiretls

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// headerSection is the header section of msg read from RFC 5322 section
// 2.2 and 3.6.8, line by line (a line ends with LF, CR LF or the end of
// the message): fields whose name is one or more printable ASCII octets
// other than ":" (white space may precede the colon, section 4.5.8),
// each followed by its folded lines, which start with white space; then
// the empty line, which is kept. The first line that is none of these
// ends the section and is left out.
func headerSection(msg []byte) []byte {
	var out []byte
	field := false
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line = msg[:i+1]
		}
		msg = msg[len(line):]
		content := bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(content) == 0 && len(line) > 0 && line[len(line)-1] == '\n' {
			return append(out, line...)
		}
		if len(content) > 0 && (content[0] == ' ' || content[0] == '\t') {
			if !field {
				return out
			}
			out = append(out, line...)
			continue
		}
		colon := bytes.IndexByte(content, ':')
		if colon < 0 {
			return out
		}
		name := strings.TrimRight(string(content[:colon]), " \t")
		if name == "" || strings.ContainsFunc(name, func(r rune) bool { return r < 33 || r > 126 }) {
			return out
		}
		field = true
		out = append(out, line...)
	}
	return out
}

// FuzzDSNContent: the copy a DSN makes of a REQUIRETLS message is exactly
// its header section (RET=HDRS, RFC 8689 section 5), nothing of the body,
// whatever the reads; a header section over the bound is an error, never
// a truncated copy.
func FuzzDSNContent(f *testing.F) {
	for _, s := range []string{
		"Subject: x\r\nTo: y\r\n\r\nsecret body\r\n",
		"Subject: x\n\nsecret\n",
		"Subject: x\r\n folded\r\n\tmore\r\nTo : y\r\n\r\nbody",
		"Subject: x\r\nsecret body\r\nmore: secret\r\n",
		" folded first\r\nSubject: secret\r\n\r\n",
		"Subject: x\r\n\r",
		"TLS-Required: No\r\nX-" + strings.Repeat("n", 5000) + ": v\r\n\r\nbody",
		"Subject: x\r\nS\xfcbject: secret\r\n\r\n",
		"\r\n\r\n",
	} {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, msg []byte, mode uint8) {
		var r io.Reader = bytes.NewReader(msg)
		switch mode % 3 {
		case 1:
			r = iotest.OneByteReader(r)
		case 2:
			r = iotest.HalfReader(r)
		}
		got, err := DSNContent(r)
		want := headerSection(msg)
		if len(want) > maxHeader {
			if err == nil {
				t.Fatalf("a header section of %d octets copied", len(want))
			}
			return
		}
		if err != nil {
			t.Fatalf("DSNContent(%q): %v", msg, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("DSNContent(%q) = %q, want the header section %q", msg, got, want)
		}
	})
}
