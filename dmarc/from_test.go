package dmarc

import (
	"bufio"
	"strings"
	"testing"
)

// TestFromDomain extracts the Author Domain from the From forms real mail
// uses (RFC 5322 section 3.4, RFC 6532, RFC 2047).
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
	} {
		fields, _, err := readHeader(bufio.NewReader(strings.NewReader(in+"\r\n\r\n")), 4096)
		if err != nil {
			t.Fatal(err)
		}
		got, err := fromDomain(fields)
		if err != nil || got != want {
			t.Errorf("%q: got %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestReadHeader splits fields, keeps folding and tolerates bare LF.
func TestReadHeader(t *testing.T) {
	in := "A: 1\r\nB: 2\r\n\tcontinued\r\nbroken line\r\nC:3\n\nbody\r\n"
	br := bufio.NewReader(strings.NewReader(in))
	fields, raw, err := readHeader(br, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != "A: 1\r\nB: 2\r\n\tcontinued\r\nbroken line\r\nC:3\n\n" {
		t.Errorf("raw %q", raw)
	}
	if len(fields) != 4 || fields[1].name != "B" || fields[1].value() != "2\tcontinued" || fields[2].name != "" || fields[3].value() != "3" {
		t.Errorf("fields %q", fields)
	}
	rest, _ := br.ReadString(0)
	if rest != "body\r\n" {
		t.Errorf("rest %q", rest)
	}
	// A header section with no body and no final line end.
	fields, raw, err = readHeader(bufio.NewReader(strings.NewReader("From: a@b.example")), 1000)
	if err != nil || len(fields) != 1 || string(raw) != "From: a@b.example" {
		t.Errorf("%q %q %v", fields, raw, err)
	}
	// Long lines beyond the reader's buffer.
	long := "X: " + strings.Repeat("y", 10000) + "\r\n\r\n"
	fields, _, err = readHeader(bufio.NewReaderSize(strings.NewReader(long), 16), 20000)
	if err != nil || len(fields) != 1 || len(fields[0].raw) != len(long)-2 {
		t.Errorf("long line: %d fields, %v", len(fields), err)
	}
	if _, _, err := readHeader(bufio.NewReaderSize(strings.NewReader(long), 16), 5000); err == nil {
		t.Error("no error over the limit")
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
