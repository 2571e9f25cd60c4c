package dnstest

import (
	"testing"

	"github.com/miekg/dns"
)

func TestDedent(t *testing.T) {
	for in, want := range map[string]string{
		"":                         "",
		"a A 1\n":                  "a A 1\n",
		"\n\t\ta A 1\n\t\t  B\n\t": "\na A 1\n  B\n\t",
		"\n  \ta A 1\n  b A 2\n":   "\n\ta A 1\nb A 2\n",
		"\n\t\ta A 1\n\n\t\tb A 2": "\na A 1\n\nb A 2",
	} {
		if got := dedent(in); got != want {
			t.Errorf("dedent(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParent(t *testing.T) {
	for in, want := range map[string]string{
		"a.b.test.": "b.test.",
		"test.":     ".",
		".":         "",
		`a\.b.c.`:   "c.",
	} {
		if got := parent(in); got != want {
			t.Errorf("parent(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseZone(t *testing.T) {
	// Indented text; an indented line continues the owner above it
	// (RFC 1035 section 5.1).
	z, err := parseZone(Zone{Name: "Example.Test", Text: `
		@     A     192.0.2.1
		      AAAA  2001:db8::1
		a.b   TXT   "x"`})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(z.records["example.test."]); got != 3 { // SOA, A, AAAA
		t.Errorf("%d records at the apex, want 3", got)
	}
	for _, n := range []string{"example.test.", "b.example.test.", "a.b.example.test."} {
		if !z.names[n] {
			t.Errorf("name %s missing", n)
		}
	}
	if _, ok := z.lookup("c.example.test.", "c.example.test."); ok {
		t.Error("c.example.test. exists")
	}

	// A root zone serves everything.
	z, err = parseZone(Zone{Name: ".", Text: `host.anything. A 192.0.2.1`})
	if err != nil {
		t.Fatal(err)
	}
	if z.soa.Hdr.Name != "." || z.soa.Ns != "ns." {
		t.Errorf("root SOA %v", z.soa)
	}
	if rrs, ok := z.lookup("host.anything.", "host.anything."); !ok || len(rrs) != 1 || rrs[0].Header().Rrtype != dns.TypeA {
		t.Errorf("lookup in root zone: %v %v", rrs, ok)
	}
}
