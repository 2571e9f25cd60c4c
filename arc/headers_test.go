package arc

import (
	"bufio"
	"errors"
	"strings"
	"testing"
)

func readTestHeader(t *testing.T, msg string, maxFields, maxBytes int) ([]field, string, error) {
	t.Helper()
	br := bufio.NewReaderSize(strings.NewReader(msg), 16)
	fields, err := readHeader(br, maxFields, maxBytes)
	rest := new(strings.Builder)
	br.WriteTo(rest)
	return fields, rest.String(), err
}

func TestReadHeader(t *testing.T) {
	tests := []struct {
		msg   string
		names []string
		raws  []string
		body  string
	}{
		{"", nil, nil, ""},
		{"\r\nbody", nil, nil, "body"},
		{"A: 1\r\nB: 2\r\n\r\nbody\r\n", []string{"a", "b"}, []string{"A: 1", "B: 2"}, "body\r\n"},
		{"A: 1\nB: 2\n\nbody\n", []string{"a", "b"}, []string{"A: 1", "B: 2"}, "body\n"},
		{"A: 1\r\n  2\r\n\t3\r\nB : x\r\n\r\n", []string{"a", "b"}, []string{"A: 1\r\n  2\r\n\t3", "B : x"}, ""},
		{"A: no blank line\r\n", []string{"a"}, []string{"A: no blank line"}, ""},
		{"A: no final break", []string{"a"}, []string{"A: no final break"}, ""},
		{"From nobody\r\nB: 1\r\n\r\n", []string{"", "b"}, []string{"From nobody", "B: 1"}, ""},
		{" lead: x\r\n\r\n", []string{" lead"}, []string{" lead: x"}, ""},
		{"Long: " + strings.Repeat("x", 100) + "\r\n\r\n", []string{"long"}, []string{"Long: " + strings.Repeat("x", 100)}, ""},
	}
	for _, tc := range tests {
		fields, body, err := readTestHeader(t, tc.msg, 10, 1000)
		if err != nil {
			t.Errorf("%q: %v", tc.msg, err)
			continue
		}
		if len(fields) != len(tc.names) {
			t.Errorf("%q: %d fields, want %d", tc.msg, len(fields), len(tc.names))
			continue
		}
		for i, f := range fields {
			if f.name != tc.names[i] || string(f.raw) != tc.raws[i] {
				t.Errorf("%q field %d: %q %q, want %q %q", tc.msg, i, f.name, f.raw, tc.names[i], tc.raws[i])
			}
		}
		if body != tc.body {
			t.Errorf("%q: body %q, want %q", tc.msg, body, tc.body)
		}
	}
}

func TestReadHeaderLimits(t *testing.T) {
	msg := strings.Repeat("X: y\r\n", 11) + "\r\n"
	var le *headerLimitError
	if _, _, err := readTestHeader(t, msg, 10, 1000); !errors.As(err, &le) || !errors.Is(err, errTooManyFields) {
		t.Errorf("11 fields, limit 10: %v", err)
	}
	if _, _, err := readTestHeader(t, msg, 11, 1000); err != nil {
		t.Errorf("11 fields, limit 11: %v", err)
	}
	if _, _, err := readTestHeader(t, msg, 100, 60); !errors.As(err, &le) || !errors.Is(err, errHeaderTooBig) {
		t.Errorf("66 bytes, limit 60: %v", err)
	}
	long := "X: " + strings.Repeat("y", 200) + "\r\n\r\n"
	if _, _, err := readTestHeader(t, long, 100, 100); !errors.Is(err, errHeaderTooBig) {
		t.Errorf("a 205-byte line, limit 100: %v", err)
	}
}

func TestSelectHeaders(t *testing.T) {
	fields := []field{
		{name: "from", raw: []byte("From: 1")},
		{name: "to", raw: []byte("To: a")},
		{name: "to", raw: []byte("To: b")},
		{name: "subject", raw: []byte("Subject: s")},
	}
	tests := []struct {
		names []string
		want  []string
	}{
		{[]string{"from", "subject"}, []string{"From: 1", "Subject: s"}},
		{[]string{"to"}, []string{"To: b"}},                      // bottom up
		{[]string{"to", "to"}, []string{"To: b", "To: a"}},       // RFC 6376 section 5.4.2
		{[]string{"to", "to", "to"}, []string{"To: b", "To: a"}}, // one too many: nothing
		{[]string{"cc", "", "from"}, []string{"From: 1"}},
		{nil, nil},
	}
	for _, tc := range tests {
		var got []string
		for _, f := range selectHeaders(fields, tc.names) {
			got = append(got, string(f.raw))
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("selectHeaders(%q) = %q, want %q", tc.names, got, tc.want)
		}
	}
}

func TestParseChain(t *testing.T) {
	set := func(i string) string {
		return "ARC-Seal: i=" + i + "; cv=none\r\nARC-Message-Signature: i=" + i + "; a=x\r\nARC-Authentication-Results: i=" + i + "; x.example; none\r\n"
	}
	tests := []struct {
		hdr    string
		n      int
		found  bool
		broken string
	}{
		{"Subject: x\r\n", 0, false, ""},
		{set("1"), 1, true, ""},
		{set("2") + set("1"), 2, true, ""},
		{set("1") + set("2"), 2, true, ""}, // order in the header does not matter
		{set("2"), 2, true, "i=1: no ARC-Authentication-Results"},
		{set("1") + set("1"), 1, true, "i=1: 2 ARC-Authentication-Results fields"},
		{set("51"), 0, true, "ARC-Seal: instance i=51 above 50 (RFC 8617 section 4.2.1)"},
		{"ARC-Seal: cv=none\r\n", 0, true, "ARC-Seal: missing tag i="},
		{"ARC-Authentication-Results: x.example; i=1\r\n", 0, true, "ARC-Authentication-Results: does not start with i="},
		{"ARC-Message-Signature: i=1;;\r\n", 0, true, "ARC-Message-Signature: at byte 5: empty tag-spec"},
	}
	for _, tc := range tests {
		fields, _, err := readTestHeader(t, tc.hdr+"\r\n", 100, 10000)
		if err != nil {
			t.Fatal(err)
		}
		c := parseChain(fields)
		if c.n() != tc.n || c.found != tc.found || c.broken != tc.broken {
			t.Errorf("%q: n=%d found=%v broken=%q; want %d %v %q", tc.hdr, c.n(), c.found, c.broken, tc.n, tc.found, tc.broken)
		}
	}
}

func TestParseAAR(t *testing.T) {
	for _, tc := range []struct {
		v       string
		n       int
		payload string
		ok      bool
	}{
		{"i=1; example.org; spf=pass", 1, "example.org; spf=pass", true},
		{" (c) i = 2 ;\r\n example.org", 2, "example.org", true},
		{"i=1 example.org; spf=pass", 0, "", false},
		{"example.org; i=1", 0, "", false},
		{"i=1;", 0, "", false},
		{"i=x; a", 0, "", false},
		{"I=1; a", 0, "", false},
	} {
		n, payload, err := parseAAR(tc.v)
		if (err == nil) != tc.ok || n != tc.n || payload != tc.payload {
			t.Errorf("parseAAR(%q) = %d, %q, %v", tc.v, n, payload, err)
		}
	}
}

func TestSplitAuthServID(t *testing.T) {
	for _, tc := range []struct {
		v, id, rest string
		ok          bool
	}{
		{" example.org; spf=pass", "example.org", " spf=pass", true},
		{"example.org 1; none", "example.org", " none", true},
		{"(comment) example.org (more);dkim=pass", "example.org", "dkim=pass", true},
		{`"quoted.example"; x=y`, "quoted.example", " x=y", true},
		{"example.org", "example.org", "", true},
		{"example.org spf=pass", "", "", false},
		{"; spf=pass", "", "", false},
		{`"open`, "", "", false},
	} {
		id, rest, ok := splitAuthServID(tc.v)
		if id != tc.id || rest != tc.rest || ok != tc.ok {
			t.Errorf("splitAuthServID(%q) = %q, %q, %v", tc.v, id, rest, ok)
		}
	}
}

func TestArcResults(t *testing.T) {
	got := arcResults([]string{"spf=pass; ARC=Pass (i=1) header.oldest-pass=0", "(x) arc = fail; dkim=pass"})
	if strings.Join(got, ",") != "pass,fail" {
		t.Errorf("arcResults = %q", got)
	}
}
