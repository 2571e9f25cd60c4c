package spf

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
)

// FuzzParseRecord feeds the record parser arbitrary records. It must not
// panic, and what it accepts must keep the promises the evaluator relies
// on: a valid qualifier, CIDR lengths in range, domain-specs that pass
// their own check and expand to names no longer than maxDomainLen, and
// the same answer when the terms are separated differently.
func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{
		"v=spf1",
		"v=spf1 -all",
		"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx/24//64 ptr ~all",
		"v=spf1 include:_spf.example.com redirect=%{d}.example.net exp=why.%{d}",
		"v=spf1 a:foo:bar/baz.example.com/24 exists:%{ir}.%{l1r-}.%{v}._spf.%{d2}",
		"v=spf1 moo.cow-far_out=man:dog/cat ip4:1.2.3.4 -all",
		"v=spf1 a:example.-com a:museum. a:111.222.33.44 exp= redirect=a.test redirect=b.test",
		"v=spf1 a:%{H}.bar %{p}.example.com ?a:%{p}.trusted.example.com",
		"V=SpF1 +A//0 ip4:1.2.3.4/032 a:foo.example.com\x00",
	} {
		f.Add(s)
	}
	env := rfcEnv("192.0.2.3")
	f.Fuzz(func(t *testing.T, s string) {
		rec, err := parseRecord(s)
		if err != nil {
			return
		}
		if _, err := parseRecord(strings.ReplaceAll(s, " ", "  ") + " "); err != nil {
			t.Fatalf("%q parses, but not with doubled spaces: %v", s, err)
		}
		specs := []string{rec.redirect, rec.exp}
		for _, m := range rec.mechanisms {
			switch m.qualifier {
			case Pass, Fail, SoftFail, Neutral:
			default:
				t.Fatalf("%q: qualifier %q", s, m.qualifier)
			}
			if m.cidr4 < 0 || m.cidr4 > 32 || m.cidr6 < 0 || m.cidr6 > 128 {
				t.Fatalf("%q: CIDR lengths %d, %d", s, m.cidr4, m.cidr6)
			}
			if (m.kind == mechIP4 || m.kind == mechIP6) != m.prefix.IsValid() {
				t.Fatalf("%q: %s with prefix %v", s, m.text, m.prefix)
			}
			if (m.kind == mechInclude || m.kind == mechExists) && m.domain == "" {
				t.Fatalf("%q: %s without a domain-spec", s, m.text)
			}
			specs = append(specs, m.domain)
		}
		for _, spec := range specs {
			if spec == "" {
				continue
			}
			if err := checkDomainSpec(spec); err != nil {
				t.Fatalf("%q: accepted domain-spec %q fails its check: %v", s, spec, err)
			}
			name, err := expandMacros(spec, env, false)
			if err != nil {
				t.Fatalf("%q: accepted domain-spec %q does not expand: %v", s, spec, err)
			}
			if len(strings.TrimSuffix(name, ".")) > maxDomainLen {
				t.Fatalf("%q: %q expands to %d octets", s, spec, len(name))
			}
		}
	})
}

// FuzzCheck evaluates arbitrary records, published at the checked domain
// and at an included one, for an arbitrary local-part, against an
// in-memory zone. It must not panic, must give one of the results of RFC
// 7208 section 2.6 with an error exactly for temperror and permerror,
// and a permerror for every record the parser refuses.
func FuzzCheck(f *testing.F) {
	f.Add("v=spf1 include:inc.example.test a mx ptr exists:%{l}.example.test -all", "v=spf1 ip4:192.0.2.0/24 ?all", "user")
	f.Add("v=spf1 redirect=inc.example.test", "v=spf1 a:%{p} exp=%{d} -all", "a..b")
	f.Add("v=spf1 include:inc.example.test include:inc.example.test ~all", "v=spf1 include:top.example.test", "%{x}")
	f.Fuzz(func(t *testing.T, top, inc, local string) {
		z := newSuiteZone(t, map[string][]suiteRecord{
			"top.example.test": {
				{"TXT": jsonString(top)},
				{"A": rawJSON(`"192.0.2.1"`)},
				{"MX": rawJSON(`[10, "mx.example.test"]`)},
			},
			"inc.example.test":            {{"TXT": jsonString(inc)}},
			"mx.example.test":             {{"A": rawJSON(`"192.0.2.2"`)}},
			"user.example.test":           {{"A": rawJSON(`"127.0.0.2"`)}},
			"1.2.0.192.in-addr.arpa":      {{"PTR": rawJSON(`"top.example.test"`)}},
			"top.example.test.inc.test":   {{"A": rawJSON(`"127.0.0.2"`)}},
			"explained.example.test":      {{"TXT": rawJSON(`"%{i} is not %{d}"`)}},
			"broken.example.test":         {{"SERVFAIL": rawJSON(`true`)}},
			"slow.example.test":           {{"TIMEOUT": rawJSON(`true`)}},
			"v6.example.test":             {{"AAAA": rawJSON(`"2001:db8::1"`)}},
			"inc.example.test.inc.test":   {{"A": rawJSON(`"127.0.0.2"`)}},
			"example.test":                {{"TXT": rawJSON(`"v=spf1 -all"`)}},
			"2.2.0.192.in-addr.arpa":      {{"PTR": rawJSON(`"mx.example.test"`)}},
			"user.inc.example.test":       {{"A": rawJSON(`"127.0.0.2"`)}},
			"postmaster.top.example.test": {{"A": rawJSON(`"127.0.0.2"`)}},
		})
		c := New(&Options{Resolver: z})
		o := c.CheckMailFrom(context.Background(), netip.MustParseAddr("192.0.2.1"), "helo.example.test", local+"@top.example.test")
		switch o.Result {
		case Pass, Fail, SoftFail, Neutral, None:
			if o.Err != nil && o.Result != None {
				t.Fatalf("%s with error %v", o.Result, o.Err)
			}
		case TempError, PermError:
			if o.Err == nil {
				t.Fatalf("%s without an error", o.Result)
			}
		default:
			t.Fatalf("result %q", o.Result)
		}
		if isSPFRecord(top) && len(spfRecords([]string{top})) == 1 {
			if _, err := parseRecord(top); err != nil && o.Result != PermError {
				t.Fatalf("%q does not parse (%v), but the result is %s", top, err, o.Result)
			}
		}
	})
}

// jsonString is s as a JSON string, for suiteRecord values.
func jsonString(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}
