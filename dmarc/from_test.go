package dmarc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// authorsOf reads the Author Domains of a header section.
func authorsOf(t testing.TB, hdr string) *authors {
	t.Helper()
	h, err := readHeader(bufio.NewReader(strings.NewReader(hdr)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	a, err := authorDomains(h, DefaultMaxAuthorDomains)
	if err != nil {
		t.Fatalf("%q: %v", hdr, err)
	}
	return a
}

// TestFromDomain extracts the Author Domain from the From forms real mail
// uses (RFC 5322 section 3.4, RFC 6532, RFC 2047), and from the other
// forms of the grammar: comments and phrases around a bare address, CFWS
// inside the angle brackets and around dots, and the obsolete forms of
// section 4.4 (routes, empty list elements, phrases with dots, CFWS
// between the atoms of local parts and domains).
func TestFromDomain(t *testing.T) {
	for in, want := range map[string]string{
		"From: joe@example.com":                                  "example.com",
		"From: Joe <joe@Example.COM>":                            "example.com",
		"From: \"Joe, the one\" <joe@example.com>":               "example.com",
		"From: Joe Q. Public <joe@example.com>":                  "example.com",
		"From: =?iso-2022-jp?B?GyRCJEgbKEI=?= <joe@example.com>": "example.com",
		"From: =?x-unknown?Q?J=F6e?= <joe@example.com>":          "example.com",
		"From: joe@example.com (Joe)":                            "example.com",
		"From:\r\n\tJoe\r\n <joe@example.com>":                   "example.com",
		"From: joe@bücher.example":                               "xn--bcher-kva.example",
		"From: Jöe <jöe@münchen.example>":                        "xn--mnchen-3ya.example",
		"From: Joe [the \"boss\"] <joe@example.com>":             "example.com",
		"From: \"Joe\" <\"joe smith\"@example.com>":              "example.com",
		"From: list: joe@example.com;":                           "example.com",
		"From: <joe@example.com>":                                "example.com",
		"From: joe@sub.example.co.uk":                            "sub.example.co.uk",
		"From: \"broken <joe@example.com>":                       "example.com",

		// Comments and phrases around a bare address.
		"From: (The CEO) ceo@bank.example":            "bank.example",
		"From: (The (very) \\) CEO) ceo@bank.example": "bank.example",
		"From: ceo@bank.example (The CEO)":            "bank.example",
		"From: ceo(x)@(y)bank.example":                "bank.example",
		"From:(c)ceo@bank.example(c)":                 "bank.example",
		"From: \"ceo\"@bank.example":                  "bank.example",
		// CFWS inside the angle brackets.
		"From: <ceo@bank.example >":              "bank.example",
		"From: < ceo@bank.example>":              "bank.example",
		"From: CEO <ceo@bank.example (the CEO)>": "bank.example",
		"From: CEO <ceo@\r\n bank.example\r\n >": "bank.example",
		"From: CEO <(x) ceo @ bank.example>":     "bank.example",
		// Obsolete forms (RFC 5322 section 4.4).
		"From: CEO <@relay.example,@other.example:ceo@bank.example>": "bank.example",
		"From: <@relay.example:ceo@bank.example>":                    "bank.example",
		"From: , , ceo@bank.example, ,":                              "bank.example",
		"From: ceo . office @ bank . example":                        "bank.example",
		"From: ceo@bank (comment) . example":                         "bank.example",
		"From: John Q. Public <ceo@bank.example>":                    "bank.example",
		"From: Mr. Smith. <ceo@bank.example>":                        "bank.example",
		"From: group: , ceo@bank.example, ;":                         "bank.example",
		"From : ceo@bank.example":                                    "bank.example",
		"from:ceo@BANK.example":                                      "bank.example",
		"From:\tceo@bank.example\r\n\t(folded comment)":              "bank.example",
	} {
		a := authorsOf(t, in+"\r\n\r\n")
		if len(a.domains) != 1 || a.domains[0] != want || a.noFrom != nil {
			t.Errorf("%q: got %q, %v; want %q", in, a.domains, a.noFrom, want)
		}
	}
}

// TestSeveralAuthors: every address of every From field counts (RFC 7489
// section 6.6.1), repeats once; a From field or address without a usable
// domain is noted besides.
func TestSeveralAuthors(t *testing.T) {
	for _, tt := range []struct {
		hdr    string
		want   string
		noFrom error
	}{
		{"From: a@x.example, b@y.example", "x.example y.example", nil},
		{"From: a@x.example\r\nFrom: b@y.example", "x.example y.example", nil},
		{"From: a@x.example\r\nTo: t@z.example\r\nfrom: B <b@Y.example>", "x.example y.example", nil},
		{"From: a@x.example, b@X.EXAMPLE, c@x.example.", "x.example", nil},
		{"From: g: a@x.example, b@y.example;, c@z.example", "x.example y.example z.example", nil},
		{"From: a@x.example\r\nFrom: garbage", "x.example", ErrFromSyntax},
		{"From: a@x.example\r\nFrom: undisclosed:;", "x.example", ErrNoAuthor},
		{"From: a@x.example, b@[192.0.2.1]", "x.example", ErrFromDomain},
		{"From: <a@x.example>@y.example", "x.example y.example", nil},
		{"From: \"a@x.example\" <b@y.example", "x.example y.example", nil},
		{"To: a@x.example", "", ErrNoFrom},
		{"From:", "", ErrNoAuthor},
		{"From", "", ErrNoAuthor},
		{"From: <>", "", ErrFromSyntax},
	} {
		a := authorsOf(t, tt.hdr+"\r\n\r\n")
		if got := strings.Join(a.domains, " "); got != tt.want || !errors.Is(a.noFrom, tt.noFrom) || (tt.noFrom == nil) != (a.noFrom == nil) {
			t.Errorf("%q: got %q, %v; want %q, %v", tt.hdr, got, a.noFrom, tt.want, tt.noFrom)
		}
	}
	// More distinct domains than the limit: no evaluation at all.
	var b strings.Builder
	for i := range DefaultMaxAuthorDomains + 1 {
		fmt.Fprintf(&b, "From: a@d%d.example\r\n", i)
	}
	h, _ := readHeader(bufio.NewReader(strings.NewReader(b.String()+"\r\n")), 1<<20)
	if _, err := authorDomains(h, DefaultMaxAuthorDomains); !errors.Is(err, ErrTooManyAuthors) {
		t.Errorf("%d domains: %v", DefaultMaxAuthorDomains+1, err)
	}
}

// TestReadHeader splits fields, keeps folding and tolerates bare LF.
func TestReadHeader(t *testing.T) {
	in := "A: 1\r\nB: 2\r\n\tcontinued\r\nbroken line\r\nC:3\n\nbody\r\n"
	br := bufio.NewReader(strings.NewReader(in))
	h, err := readHeader(br, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if string(h.raw) != "A: 1\r\nB: 2\r\n\tcontinued\r\nbroken line\r\nC:3\n\n" {
		t.Errorf("raw %q", h.raw)
	}
	if h.count() != 4 || string(h.field(1).name()) != "B" || h.field(1).value() != "2\tcontinued" ||
		!h.field(2).is("broken line") || h.field(2).body() != nil || h.field(3).value() != "3" || h.end() != len(h.raw)-1 {
		t.Errorf("fields %v", h.starts)
	}
	rest, _ := br.ReadString(0)
	if rest != "body\r\n" {
		t.Errorf("rest %q", rest)
	}
	// A header section with no body and no final line end.
	h, err = readHeader(bufio.NewReader(strings.NewReader("From: a@b.example")), 1000)
	if err != nil || h.count() != 1 || string(h.raw) != "From: a@b.example" || string(h.field(0)) != "From: a@b.example" {
		t.Errorf("%q %v", h.raw, err)
	}
	// Long lines beyond the reader's buffer.
	long := "X: " + strings.Repeat("y", 10000) + "\r\n\r\n"
	h, err = readHeader(bufio.NewReaderSize(strings.NewReader(long), 16), 20000)
	if err != nil || h.count() != 1 || len(h.field(0)) != len(long)-2 {
		t.Errorf("long line: %d fields, %v", h.count(), err)
	}
}

// TestReadHeaderLimit: past the limit the error says so, and no line is
// lost: the bytes read and those left make the message whole, the line
// that crosses the limit included, so that whoever handles the error can
// still pass the message on, or refuse it knowingly.
func TestReadHeaderLimit(t *testing.T) {
	for _, tt := range []struct {
		in  string
		max int
	}{
		{"X: " + strings.Repeat("y", 10000) + "\r\n\r\nbody\r\n", 5000},
		{"A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\nbody\r\n", 15},
		{"A: 1\r\nB: 2\r\n\tcont\r\n\r\n", 16},
		{strings.Repeat("a:\r\n", 1000) + "\r\n", 1000},
	} {
		for _, size := range []int{16, 64, 4096} {
			br := bufio.NewReaderSize(strings.NewReader(tt.in), size)
			h, err := readHeader(br, tt.max)
			if !errors.Is(err, ErrHeaderTooLarge) {
				t.Errorf("%.20q (buffer %d): %v", tt.in, size, err)
				continue
			}
			rest, _ := io.ReadAll(br)
			if string(h.raw)+string(rest) != tt.in {
				t.Errorf("%.20q (buffer %d): lost bytes: read %q, left %q", tt.in, size, h.raw, rest)
			}
		}
	}
	// At the limit exactly: fine.
	in := "A: 1\r\n\r\n"
	if _, err := readHeader(bufio.NewReader(strings.NewReader(in)), len(in)); err != nil {
		t.Errorf("at the limit: %v", err)
	}
}

// TestIDNA checks that non-ASCII From domains are looked up as A-labels
// (RFC 5891 section 5).
func TestIDNA(t *testing.T) {
	if _, err := normalizeDomain("a\u00ad\u200d.exa mple"); err == nil {
		t.Error("a name IDNA refuses was accepted")
	}
	if d, err := normalizeDomain("Bücher.Example."); err != nil || d != "xn--bcher-kva.example" {
		t.Errorf("normalizeDomain: %q %v", d, err)
	}
}
