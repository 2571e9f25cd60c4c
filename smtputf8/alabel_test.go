package smtputf8

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Vectors produced by Exim 4.96 (Debian, libidn2), `exim -be`; test 4200
// of Exim's suite has the first.
var localPartVectors = []struct{ u, a string }{
	{"ل", "xn--ghb"},
	{"Jörg.Müller", "xn--Jrg.Mller-07a4e"},
	{"ü", "xn--tda"},
	{"Ü", "xn--wca"},
	{"☃-x", "xn---x-esx"},
	{"aa-b-ü", "xn--aa-b--ova"},
	{"aa-ûb-", "xn--aa-b--gva"},
}

func TestLocalPartToALabel(t *testing.T) {
	for _, v := range localPartVectors {
		a, err := LocalPartToALabel(v.u)
		if err != nil || a != v.a {
			t.Errorf("LocalPartToALabel(%q) = %q, %v; want %q", v.u, a, err, v.a)
		}
		u, err := LocalPartFromALabel(v.a)
		if err != nil || u != v.u {
			t.Errorf("LocalPartFromALabel(%q) = %q, %v; want %q", v.a, u, err, v.u)
		}
	}
	// ASCII is returned as it is, as Exim does.
	for _, s := range []string{"ascii.Part", "abc-", "", "xn--ghb"} {
		if a, err := LocalPartToALabel(s); err != nil || a != s {
			t.Errorf("LocalPartToALabel(%q) = %q, %v", s, a, err)
		}
	}
	if _, err := LocalPartToALabel("a\xffb"); !errors.Is(err, ErrConversion) {
		t.Errorf("invalid UTF-8: %v", err)
	}
	if _, err := LocalPartToALabel(strings.Repeat("ü", MaxConvertLength)); !errors.Is(err, ErrConversion) {
		t.Errorf("too long: %v", err)
	}
}

func TestLocalPartFromALabel(t *testing.T) {
	good := map[string]string{
		"xn--abc-": "abc", // Exim: abc
		"xn--":     "",    // Exim: empty
		"xn--TDA":  "ü",   // digits in either case (RFC 3492 section 5)
	}
	for in, want := range good {
		if u, err := LocalPartFromALabel(in); err != nil || u != want {
			t.Errorf("LocalPartFromALabel(%q) = %q, %v; want %q", in, u, err, want)
		}
	}
	bad := []string{
		"plain.Part",      // Exim: bad alabel prefix
		"XN--ghb",         // Exim: bad alabel prefix
		"xn--gh!",         // not a digit
		"xn--ü-tda",       // non-ASCII basic part
		"xn--99999999999", // overflow
		"xn--b",           // truncated
		"xn--zzzzzz",      // past U+10FFFF
		"xn--" + strings.Repeat("a", MaxConvertLength),
	}
	for _, in := range bad {
		if u, err := LocalPartFromALabel(in); !errors.Is(err, ErrConversion) {
			t.Errorf("LocalPartFromALabel(%q) = %q, %v; want an error", in, u, err)
		}
	}
}

// RFC 3492 section 7.1, some of the sample strings (the case of the
// basic code points is kept, as the annotations there show).
func TestPunycodeRFC3492Samples(t *testing.T) {
	samples := []struct{ u, p string }{
		{"\u0644\u064A\u0647\u0645\u0627\u0628\u062A\u0643\u0644\u0645\u0648\u0634\u0639\u0631\u0628\u064A\u061F", "egbpdaj6bu4bxfgehfvwxn"},
		{"\u4ED6\u4EEC\u4E3A\u4EC0\u4E48\u4E0D\u8BF4\u4E2D\u6587", "ihqwcrb4cv8a8dqg056pqjye"},
		{"3\u5E74B\u7D44\u91D1\u516B\u5148\u751F", "3B-ww4c5e180e575a65lsy2b"},
		{"\u5B89\u5BA4\u5948\u7F8E\u6075-with-SUPER-MONKEYS", "-with-SUPER-MONKEYS-pc58ag80a8qai00g7n9n"},
		{"-> $1.00 <-", "-> $1.00 <--"},
	}
	for _, s := range samples {
		p, err := punyEncode(s.u)
		if err != nil || p != s.p {
			t.Errorf("encode %q = %q, %v; want %q", s.u, p, err, s.p)
		}
		u, err := punyDecode(s.p)
		if err != nil || u != s.u {
			t.Errorf("decode %q = %q, %v; want %q", s.p, u, err, s.u)
		}
	}
}

var domainVectors = []struct{ in, a, u string }{
	// in, Exim's utf8_domain_to_alabel, utf8_domain_from_alabel of that
	{"straße.de", "xn--strae-oqa.de", "straße.de"},
	{"Bücher.EXAMPLE", "xn--bcher-kva.example", "bücher.example"},
	{"ÖBB.at", "xn--bb-eka.at", "öbb.at"},
	{"faß.de", "xn--fa-hia.de", "faß.de"},
	{"www.bücher.example", "www.xn--bcher-kva.example", "www.bücher.example"},
	{"EXAMPLE.com", "EXAMPLE.com", "EXAMPLE.com"}, // ASCII: untouched
	{"_25._tcp.example", "_25._tcp.example", "_25._tcp.example"},
	{"ü.de.", "xn--tda.de.", "ü.de."},
	{"ｅｘａｍｐｌｅ.ü", "example.xn--tda", "example.ü"}, // UTS #46 mapping
	{"u\u0308.de", "xn--tda.de", "ü.de"},          // NFC
}

func TestDomainConversions(t *testing.T) {
	for _, v := range domainVectors {
		a, err := DomainToALabel(v.in)
		if err != nil || a != v.a {
			t.Errorf("DomainToALabel(%q) = %q, %v; want %q", v.in, a, err, v.a)
		}
		u, err := DomainFromALabel(a)
		if err != nil || u != v.u {
			t.Errorf("DomainFromALabel(%q) = %q, %v; want %q", a, u, err, v.u)
		}
	}
	if u, err := DomainFromALabel("XN--STRAE-OQA.DE"); err != nil || u != "straße.de" {
		t.Errorf("upper-case A-label: %q, %v", u, err)
	}
	bad := []string{
		"☃.net",                         // IDNA2008 disallows symbols (Exim too)
		"a..b.ü",                        // empty label (Exim accepts; the strict profile does not)
		"ü_x.de",                        // underscore next to a U-label
		"-ü.de",                         // leading hyphen
		"ü\xff.de",                      // invalid UTF-8
		strings.Repeat("ü", 70) + ".de", // A-label over 63 octets
		"a\u0640b.ü",                    // ARABIC TATWEEL, DISALLOWED exception
		"a\u00b7b.ü",                    // MIDDLE DOT out of context
		"\u0661\u06f1.ü",                // mixed Arabic-Indic digits
		"\u05d0\u0061.ü",                // Bidi rule
	}
	for _, in := range bad {
		if a, err := DomainToALabel(in); !errors.Is(err, ErrConversion) {
			t.Errorf("DomainToALabel(%q) = %q, %v; want an error", in, a, err)
		}
	}
	for _, in := range []string{"xn--zz.net", "xn--n3h.net", "a.xn--tda..b"} {
		if u, err := DomainFromALabel(in); !errors.Is(err, ErrConversion) {
			t.Errorf("DomainFromALabel(%q) = %q, %v; want an error", in, u, err)
		}
	}
	// CONTEXTO in context is fine.
	for _, in := range []string{"l\u00b7l.ü", "\u05d0\u05f3.\u05d1", "\u30fb\u30a2.jp"} {
		if _, err := DomainToALabel(in); err != nil {
			t.Errorf("DomainToALabel(%q): %v", in, err)
		}
	}
}

// Punycode against golang.org/x/net/idna's, which agrees for single
// labels, and round trips.
func TestPunycodeProperties(t *testing.T) {
	seeds := []string{"ü", "ab", "Jörg", "ل", "日本語", "a-b-c", "\U0010FFFD", "ß\u0300x", "-", "--ü--"}
	gen := func(i int) string {
		s := seeds[i%len(seeds)] + seeds[(i*7+3)%len(seeds)]
		if i%3 == 0 {
			s += string(rune(0x80 + i*97%0x10000))
		}
		return s
	}
	for i := 0; i < 2000; i++ {
		s := gen(i)
		if !utf8.ValidString(s) {
			continue
		}
		p, err := punyEncode(s)
		if err != nil {
			t.Fatalf("encode %q: %v", s, err)
		}
		back, err := punyDecode(p)
		if err != nil || back != s {
			t.Fatalf("round trip %q -> %q -> %q, %v", s, p, back, err)
		}
		if isASCII(s) || strings.ContainsRune(s, '.') {
			continue
		}
		if want, err := idna.Punycode.ToASCII(s); err == nil && "xn--"+p != want {
			t.Fatalf("encode %q = %q, idna.Punycode %q", s, p, want)
		}
	}
}

func FuzzLocalPart(f *testing.F) {
	for _, v := range localPartVectors {
		f.Add(v.u)
		f.Add(v.a)
	}
	f.Add("xn--99999999999")
	f.Fuzz(func(t *testing.T, s string) {
		if u, err := LocalPartFromALabel(s); err == nil {
			if !utf8.ValidString(u) {
				t.Fatalf("decode %q gave invalid UTF-8", s)
			}
			// A decoded form re-encodes to a decodable form of itself.
			if !isASCII(u) {
				a, err := LocalPartToALabel(u)
				if err != nil {
					t.Fatalf("re-encode %q: %v", u, err)
				}
				if u2, err := LocalPartFromALabel(a); err != nil || u2 != u {
					t.Fatalf("round trip %q -> %q -> %q, %v", u, a, u2, err)
				}
			}
		}
		a, err := LocalPartToALabel(s)
		if err != nil {
			if utf8.ValidString(s) && len(s) <= MaxConvertLength {
				t.Fatalf("encode %q: %v", s, err)
			}
			return
		}
		if !isASCII(a) {
			t.Fatalf("encode %q gave non-ASCII %q", s, a)
		}
		if !isASCII(s) {
			if u, err := LocalPartFromALabel(a); err != nil || u != s {
				t.Fatalf("round trip %q -> %q -> %q, %v", s, a, u, err)
			}
		}
	})
}

func FuzzDomain(f *testing.F) {
	for _, v := range domainVectors {
		f.Add(v.in)
		f.Add(v.a)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := DomainToALabel(s)
		if err != nil || isASCII(s) {
			return
		}
		if !isASCII(a) {
			t.Fatalf("DomainToALabel(%q) = %q, not ASCII", s, a)
		}
		u, err := DomainFromALabel(a)
		if err != nil {
			t.Fatalf("DomainFromALabel(%q) from %q: %v", a, s, err)
		}
		if a2, err := DomainToALabel(u); err != nil || a2 != a {
			t.Fatalf("%q -> %q -> %q -> %q, %v", s, a, u, a2, err)
		}
	})
}

func BenchmarkLocalPartToALabel(b *testing.B) {
	for b.Loop() {
		if _, err := LocalPartToALabel("Jörg.Müller-日本語"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLocalPartFromALabel(b *testing.B) {
	a, _ := LocalPartToALabel("Jörg.Müller-日本語")
	for b.Loop() {
		if _, err := LocalPartFromALabel(a); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDomainToALabel(b *testing.B) {
	for b.Loop() {
		if _, err := DomainToALabel("www.Bücher.example"); err != nil {
			b.Fatal(err)
		}
	}
}
