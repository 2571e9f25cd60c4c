package dmarc

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"net/mail"
	"slices"
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

// FuzzAuthors parses From field bodies (RFC 5322 section 3.4, obsolete
// forms of section 4.4): no panic, domains normalised, and no domain
// escapes: every address net/mail reads in the field gives a domain we
// evaluate, or its domain is one we cannot use either.
func FuzzAuthors(f *testing.F) {
	for _, s := range []string{
		"Joe <joe@example.com>",
		"(The CEO) ceo@bank.example",
		"<ceo@bank.example >",
		"CEO <@relay.example,@b.example:ceo@bank.example>",
		", , ceo . x @ bank (c) . example, ,",
		"g: a@x.example, b@y.example;, c@z.example",
		"\"a@x.example\" <b@y.example",
		"=?utf-8?q?J=C3=B6e?= <jöe@münchen.example>",
		"joe@[192.0.2.1]",
		"undisclosed:;",
		"\r\n\t(folded (nested \\) comment)) joe@example.com\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		a := &authors{}
		if err := a.addField([]byte(v), DefaultMaxAuthorDomains); err != nil {
			if !errors.Is(err, ErrTooManyAuthors) {
				t.Fatalf("%q: %v", v, err)
			}
			return
		}
		if len(a.domains) == 0 && a.noFrom == nil {
			t.Fatalf("%q: no domain and no reason", v)
		}
		for _, d := range a.domains {
			if n, err := normalizeDomain(d); err != nil || n != d {
				t.Fatalf("%q: domain %q not normalised", v, d)
			}
		}
		if addr := missedAddress(v, a); addr != "" {
			t.Fatalf("%q: net/mail reads %q, we read %q (%v)", v, addr, a.domains, a.noFrom)
		}
	})
}

// missedAddress is the first address net/mail reads in the From field
// body v whose usable domain is not among a's, "" for none.
func missedAddress(v string, a *authors) string {
	list, err := addressParser.ParseList(v)
	if err != nil {
		return ""
	}
	for _, addr := range list {
		at := strings.LastIndexByte(addr.Address, '@')
		if at < 0 {
			continue
		}
		d, err := normalizeDomain(addr.Address[at+1:])
		if err == nil && !slices.Contains(a.domains, d) {
			return addr.Address
		}
	}
	return ""
}

// addressParser is net/mail's, decoding encoded words leniently, as a
// mail reader might: the reference FuzzAuthors compares with.
var addressParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{
	CharsetReader: func(_ string, input io.Reader) (io.Reader, error) { return input, nil },
}}

// FuzzReadHeader reads header sections through small buffers and a small
// limit: no byte is lost, on errors too, the fields cover the section in
// order, and the Authentication-Results filter only removes whole fields.
func FuzzReadHeader(f *testing.F) {
	for _, s := range []string{
		"A: 1\r\nB: 2\r\n\tcontinued\r\nbroken line\r\nC:3\n\nbody\r\n",
		"Authentication-Results: mx.example.org; none\r\nX: y\r\n\r\n",
		"Authentication-Results:\r\n (c) MX.example.org. 1; none\r\n\r\n",
		" leading\r\nFrom: a@b\r\n",
		"\r\n",
		"",
	} {
		f.Add(s, 16, 64)
	}
	f.Fuzz(func(t *testing.T, in string, size, max int) {
		size = 16 + abs(size)%4096
		max = abs(max) % 8192
		br := bufio.NewReaderSize(strings.NewReader(in), size)
		h, err := readHeader(br, max)
		rest, _ := io.ReadAll(br)
		if string(h.raw)+string(rest) != in {
			t.Fatalf("bytes lost: %q + %q", h.raw, rest)
		}
		if err != nil {
			if !errors.Is(err, ErrHeaderTooLarge) || max == 0 || len(h.raw) <= max {
				t.Fatalf("error %v with %d bytes read, limit %d", err, len(h.raw), max)
			}
			if _, err := headerOf([]byte(in), max); !errors.Is(err, ErrHeaderTooLarge) {
				t.Fatalf("in memory: %v", err)
			}
			return
		}
		if max > 0 && len(h.raw) > max {
			t.Fatalf("%d bytes read, limit %d", len(h.raw), max)
		}
		// The same header section indexed in memory.
		hm, err := headerOf([]byte(in), max)
		if err != nil || !bytes.Equal(hm.raw, h.raw) || !slices.Equal(slices.Concat(hm.starts...), slices.Concat(h.starts...)) {
			t.Fatalf("in memory: %v %q %v, read: %q %v", err, hm.raw, hm.starts, h.raw, h.starts)
		}
		off := 0
		for i := range h.count() {
			if h.start(i) != off || len(h.field(i)) == 0 {
				t.Fatalf("field %d at %d, want %d", i, h.start(i), off)
			}
			off += len(h.field(i))
		}
		if off != h.end() || !isBlankLine(h.raw[off:]) && off != len(h.raw) {
			t.Fatalf("fields end at %d of %q", off, h.raw)
		}
		kept := h.withoutAuthResults("mx.example.org")
		removed := 0
		for i := range h.count() {
			fl := h.field(i)
			if fl.claims("mx.example.org") {
				removed += len(fl)
			}
		}
		if len(kept) != len(h.raw)-removed {
			t.Fatalf("kept %d of %d bytes, %d removed", len(kept), len(h.raw), removed)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		if n == -n {
			return 0
		}
		return -n
	}
	return n
}

// FuzzHeaderAuthors compares the Author Domains of whole header sections
// with what net/mail's reader finds in them: every From field it reads
// (net/textproto's header reader: line ends, continuation lines, field
// names), and every address it parses in one, must be among our authors,
// or we must report a reason the message has no usable From.
func FuzzHeaderAuthors(f *testing.F) {
	for _, s := range []string{
		"From: Joe <joe@example.com>\r\nSubject: hi\r\n\r\nbody\r\n",
		"Subject: hi\rFrom: joe@example.com\r\n\r\n",
		"From: ann@example.org\r\nX: y\r\n\r\r\nFrom: joe@example.com\r\n\r\n",
		"From: ann@example.org\nfrom:\r\n\tjoe@example.com\n\n",
		" From: joe@example.com\r\nFrom: ann@example.org\r\n\r\n",
		"From: =?utf-8?b?am9lQGV4YW1wbGUuY29t?=@example.org\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		h, err := readHeader(bufio.NewReaderSize(strings.NewReader(in), 64), 1<<16)
		if err != nil {
			return
		}
		a, err := authorDomains(h, 1000)
		if err != nil {
			return
		}
		m, err := mail.ReadMessage(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, v := range m.Header["From"] {
			if addr := missedAddress(v, a); addr != "" && a.noFrom == nil {
				t.Fatalf("%q: net/mail reads From %q, we read %q", in, addr, a.domains)
			}
		}
	})
}
