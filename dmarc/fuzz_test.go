package dmarc

import (
	"bufio"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzFrom feeds header sections to the header reader and the From
// extraction (RFC 7489 section 6.6.1): no panic, and a domain only when
// it is normalised.
func FuzzFrom(f *testing.F) {
	for _, s := range []string{
		"From: Joe <joe@example.com>\r\n\r\n",
		"From: joe@example.com, ann@example.org\r\n\r\n",
		"From: =?iso-2022-jp?B?GyRCJEgbKEI=?= <joe@example.com>\r\n\r\n",
		"From: Joe Q. Public <joe@example.com>\r\n\r\n",
		"From: undisclosed:;\r\n\r\n",
		"From: joe@bücher.example\r\n\r\n",
		"From:\r\n\t(comment) \"a b\"@example.com\r\n\r\n",
		"from: a@b\nFROM: c@d\n\n",
		"From: <<<\r\n",
		"X: y\r\n continued\r\nFrom joe\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		br := bufio.NewReaderSize(strings.NewReader(in), 16)
		h, err := readHeader(br, 4096)
		rest, _ := io.ReadAll(br)
		if string(h.raw)+string(rest) != in {
			t.Fatalf("bytes lost: %q + %q", h.raw, rest)
		}
		if err != nil {
			return
		}
		if h.count() > 0 && (h.start(0) != 0 || h.end() > len(h.raw)) {
			t.Fatalf("fields %v of %d bytes", h.starts, len(h.raw))
		}
		for i := range h.count() {
			f := h.field(i)
			if len(f) == 0 || i > 0 && (f[0] == ' ' || f[0] == '\t') {
				t.Fatalf("field %d: %q", i, f)
			}
			_ = f.value()
		}
		a, err := authorDomains(h, DefaultMaxAuthorDomains)
		if err != nil {
			return
		}
		if len(a.domains) == 0 && a.noFrom == nil {
			t.Fatalf("no domain and no reason from %q", in)
		}
		for _, d := range a.domains {
			if d == "" || d != strings.ToLower(d) || !utf8.ValidString(d) || strings.HasSuffix(d, ".") {
				t.Fatalf("domain %q from %q", d, in)
			}
			for i := 0; i < len(d); i++ {
				if d[i] >= 0x80 {
					t.Fatalf("domain %q is not ASCII", d)
				}
			}
		}
	})
}

// FuzzRecord parses TXT records as found at _dmarc names.
func FuzzRecord(f *testing.F) {
	for _, s := range []string{
		"v=DMARC1; p=reject; sp=none; adkim=s; aspf=r; pct=50; fo=1:d; rua=mailto:a@example.com!10m,mailto:b@example.org; ruf=mailto:c@example.com; ri=3600; rf=afrf",
		"v=DMARC1; p=none; np=reject; psd=y; t=y",
		"v=DMARC1",
		"v=DMARC1; p=bogus; rua=mailto:x@y",
		"v=DMARC1;;;=;p=;==",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, txt string, bis bool) {
		if !hasVersion(txt) {
			return
		}
		r, err := parseRecord("example.com", txt, bis)
		if err != nil {
			return
		}
		switch r.Policy {
		case PolicyNone, PolicyQuarantine, PolicyReject:
		default:
			t.Fatalf("policy %q", r.Policy)
		}
		if r.Percent < 0 || r.Percent > 100 || (r.DKIMAlignment != Relaxed && r.DKIMAlignment != Strict) {
			t.Fatalf("record %+v", r)
		}
		_ = r.policyFor("a.example.com", true)
	})
}

// FuzzAuthservID reads the authserv-id of Authentication-Results values.
func FuzzAuthservID(f *testing.F) {
	for _, s := range []string{"mx.example.org; spf=pass", "(c (nested)) \"quoted\\\"id\" 1; none", "((((", "\"unterminated"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		id := authservID(v)
		if len(id) > len(v) {
			t.Fatalf("id %q longer than %q", id, v)
		}
	})
}

// FuzzHistory reads history files, which OpenDMARC or other writers may
// have made.
func FuzzHistory(f *testing.F) {
	f.Add("job 1\nreceived 1700000000\nipaddr 192.0.2.1\nfrom example.com\nmfrom example.com\nspf 0\ndkim example.com sel 0\npdomain example.com\npolicy 16\nrua mailto:a@example.com\npct 100\nadkim 114\naspf 114\np 114\nsp 0\nalign_dkim 5\nalign_spf 5\narc 11\narc_policy 1 json:[]\naction 0\n")
	f.Add("job\njob x\n dkim\ndkim a\nreceived -5\nfrom x\n")
	f.Fuzz(func(t *testing.T, in string) {
		rp := NewReporter(&ReporterOptions{Email: "r@example.org"})
		reports, err := rp.AggregateReports(strings.NewReader(in), fixedNow.Add(-1e15), fixedNow.Add(1e15))
		if err != nil {
			return
		}
		for _, a := range reports {
			if len(a.XML) == 0 || a.Messages == 0 {
				t.Fatalf("empty report %+v", a)
			}
		}
	})
}

// FuzzSuffixList parses operator suffix lists and uses them.
func FuzzSuffixList(f *testing.F) {
	f.Add("com\nco.uk\n*.ck\n!www.ck\n// comment\n", "a.b.www.ck")
	f.Add("*.*\n!\n", "x.y")
	f.Fuzz(func(t *testing.T, list, domain string) {
		l, err := ParseSuffixList(strings.NewReader(list))
		if err != nil {
			return
		}
		od := l.OrganizationalDomain(domain)
		if d, err := normalizeDomain(domain); err == nil && od != d && !strings.HasSuffix(d, "."+od) {
			t.Fatalf("organisational domain %q of %q", od, d)
		}
	})
}

// FuzzRedact redacts arbitrary header text.
func FuzzRedact(f *testing.F) {
	f.Add("To: \"a b\"@example.com, c@d.example")
	f.Add("@@\"@\"")
	f.Fuzz(func(t *testing.T, s string) {
		out := redactLocalParts(s)
		// A quoted local part may hold "@"s of its own; nothing else
		// goes.
		if strings.Count(out, "@") > strings.Count(s, "@") || (strings.Contains(s, "@") && !strings.Contains(out, "@")) {
			t.Fatalf("%q -> %q", s, out)
		}
	})
}
