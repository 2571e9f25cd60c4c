package dane

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/internal/pkitest"
)

// world is a DNS world for Lookup: a signed zone (secure.test), an
// unsigned one (insecure.test), and a signed one whose TLSA lookups fail
// (bogus.test).
func world(t *testing.T, tlsa Record) (*dnstest.Server, *Resolver) {
	t.Helper()
	srv := dnstest.Start(t,
		dnstest.Zone{Name: "secure.test", Secure: true, Text: fmt.Sprintf(`
			@               MX   10 mx
			mx              A    192.0.2.25
			mx              AAAA 2001:db8::25
			_25._tcp.mx     TLSA %[1]s
			nodane          A    192.0.2.26
			alias           CNAME mx
			alias2          CNAME nodane
			_25._tcp.alias2 TLSA %[1]s
			pkix            A    192.0.2.27
			_25._tcp.pkix   TLSA 1 1 1 %[2]x
			tlsacname       A    192.0.2.28
			_25._tcp.tlsacname CNAME _25._tcp.mx
			insecmx         A    192.0.2.29
			_25._tcp.insecmx TLSA %[1]s
		`, tlsa, make([]byte, 32))},
		dnstest.Zone{Name: "insecure.test", Text: fmt.Sprintf(`
			@             MX   10 mx
			mx            A    192.0.2.30
			_25._tcp.mx   TLSA %s
		`, tlsa)},
		dnstest.Zone{Name: "bogus.test", Secure: true, Text: `
			mx            A    192.0.2.31
		`},
		dnstest.Zone{Name: "_tcp.mx.bogus.test", Secure: true, Text: `
			_25           TLSA 3 1 1 0000000000000000000000000000000000000000000000000000000000000000
		`},
	)
	srv.SetMode("_tcp.mx.bogus.test", dnstest.ServFail(6, "DNSSEC Bogus"))
	return srv, &Resolver{Addr: srv.Addr(), Timeout: 2 * time.Second}
}

func TestLookup(t *testing.T) {
	leaf := pkitest.NewCA(t, pkitest.ECDSA).Issue(t, pkitest.Leaf{Names: []string{"mx.secure.test"}})
	tlsa := rec(t, leaf.Certificate, 3, 1, 1)
	_, res := world(t, tlsa)
	ctx := context.Background()

	for _, tc := range []struct {
		host       string
		d          Destination
		try        Action
		tryErr     error
		requireErr error
		base       string
	}{
		{host: "mx.secure.test", try: Authenticate, base: "mx.secure.test"},
		{host: "MX.Secure.Test.", try: Authenticate, base: "mx.secure.test"},
		{host: "nodane.secure.test", try: Opportunistic, requireErr: ErrNoTLSA},
		{host: "alias.secure.test", try: Authenticate, base: "mx.secure.test"},
		// The expanded name has no TLSA: the original name's are used.
		{host: "alias2.secure.test", try: Authenticate, base: "alias2.secure.test"},
		{host: "pkix.secure.test", try: MandatoryTLS, base: "pkix.secure.test"},
		// A CNAME at the TLSA owner keeps the base domain.
		{host: "tlsacname.secure.test", try: Authenticate, base: "tlsacname.secure.test"},
		{host: "mx.insecure.test", try: Opportunistic, requireErr: ErrNotSecure},
		{host: "mx.bogus.test", tryErr: ErrLookup, requireErr: ErrLookup},
		{host: "missing.secure.test", tryErr: ErrNoAddress, requireErr: ErrNoAddress},
		{host: "192.0.2.25", try: Opportunistic, requireErr: ErrNotSecure},
		{host: "[192.0.2.25]", try: Opportunistic, requireErr: ErrNotSecure},
		{host: "insecmx.secure.test", d: Destination{MXInsecure: true, NextHop: "insecure.test"}, try: Authenticate, base: "insecmx.secure.test", requireErr: ErrNotSecure},
	} {
		for _, mode := range []Mode{Try, Require} {
			t.Run(mode.String()+"/"+tc.host, func(t *testing.T) {
				d := tc.d
				d.Host = tc.host
				p, err := Lookup(ctx, d, &Options{Mode: mode, Resolver: res})
				wantErr := tc.tryErr
				if mode == Require && tc.requireErr != nil {
					wantErr = tc.requireErr
				}
				if wantErr != nil {
					if !errors.Is(err, wantErr) {
						t.Fatalf("err %v, want %v", err, wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if p.Action != tc.try || p.BaseDomain != tc.base {
					t.Fatalf("action %v base %q (%s), want %v %q", p.Action, p.BaseDomain, p.Reason, tc.try, tc.base)
				}
				if p.TLSRequired() != (tc.try != Opportunistic) {
					t.Fatal("TLSRequired wrong")
				}
			})
		}
	}

	p, err := Lookup(ctx, Destination{Host: "mx.secure.test", NextHop: "secure.test"}, &Options{Mode: Try, Resolver: res})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Addrs) != 2 || !p.AddrSecure || len(p.Usable) != 1 || UsageBits(p.Usable) != 8 {
		t.Fatalf("policy %+v", p)
	}
	if fmt.Sprint(p.Names) != "[mx.secure.test secure.test]" {
		t.Fatalf("reference identifiers %v", p.Names)
	}
	if p, err := Lookup(ctx, Destination{Host: "mx.secure.test"}, nil); err != nil || p.Action != Opportunistic {
		t.Fatalf("nil options: %v %v", p, err)
	}
}

func TestLookupMX(t *testing.T) {
	_, res := world(t, Record{Usage: 3, Selector: 1, MatchingType: 1, Data: make([]byte, 32)})
	srv := dnstest.Start(t,
		dnstest.Zone{Name: "null.test", Secure: true, Text: "@ MX 0 ."},
		dnstest.Zone{Name: "multi.test", Text: "@ MX 20 b\n@ MX 10 a\n@ MX 30 c\n"},
		dnstest.Zone{Name: "nomx.test", Secure: true, Text: "@ A 192.0.2.1"},
	)
	ctx := context.Background()
	set, err := res.LookupMX(ctx, "secure.test")
	if err != nil || !set.Secure || len(set.Hosts) != 1 || set.Hosts[0].Host != "mx.secure.test." {
		t.Fatalf("%+v %v", set, err)
	}
	r2 := &Resolver{Addr: srv.Addr()}
	set, err = r2.LookupMX(ctx, "multi.test")
	if err != nil || set.Secure || len(set.Hosts) != 3 || set.Hosts[0].Host != "a.multi.test." || set.Hosts[2].Preference != 30 {
		t.Fatalf("%+v %v", set, err)
	}
	set, err = r2.LookupMX(ctx, "null.test")
	if err != nil || !set.Null || len(set.Hosts) != 0 {
		t.Fatalf("%+v %v", set, err)
	}
	set, err = r2.LookupMX(ctx, "nomx.test")
	if err != nil || !set.Implicit || !set.Secure || set.Hosts[0].Host != "nomx.test." {
		t.Fatalf("%+v %v", set, err)
	}
}

func TestQuery(t *testing.T) {
	srv, res := world(t, Record{Usage: 3, Selector: 1, MatchingType: 1, Data: make([]byte, 32)})
	ctx := context.Background()

	a, err := res.Query(ctx, "mx.secure.test", dns.TypeA)
	if err != nil || !a.Secure || len(a.Of(dns.TypeA)) != 1 || a.NXDomain {
		t.Fatalf("secure A: %+v %v", a, err)
	}
	a, err = res.Query(ctx, "nothing.secure.test", dns.TypeA)
	if err != nil || !a.Secure || !a.NXDomain {
		t.Fatalf("secure denial: %+v %v", a, err)
	}
	a, err = res.Query(ctx, "mx.secure.test", dns.TypeTXT)
	if err != nil || !a.Secure || a.NXDomain || len(a.Records) != 0 {
		t.Fatalf("secure NODATA: %+v %v", a, err)
	}
	a, err = res.Query(ctx, "mx.insecure.test", dns.TypeA)
	if err != nil || a.Secure {
		t.Fatalf("insecure: %+v %v", a, err)
	}
	_, err = res.Query(ctx, "_25._tcp.mx.bogus.test", dns.TypeTLSA)
	var le *LookupError
	if !errors.As(err, &le) || le.Rcode != dns.RcodeServerFailure || !le.HasEDE || le.EDE != 6 || !le.Temporary() {
		t.Fatalf("SERVFAIL: %v", err)
	}
	t.Log(err)

	srv.SetMode("insecure.test", dnstest.Drop())
	short := &Resolver{Addr: srv.Addr(), Timeout: 200 * time.Millisecond}
	_, err = short.Query(ctx, "mx.insecure.test", dns.TypeA)
	if !errors.As(err, &le) || le.Rcode != -1 || le.Err == nil {
		t.Fatalf("timeout: %v", err)
	}

	// The AD bit of a resolver that is not on loopback is not believed.
	if (&Resolver{}).trusted("192.0.2.53:53") || !(&Resolver{Trusted: true}).trusted("192.0.2.53:53") || !(&Resolver{}).trusted("[::1]:53") {
		t.Fatal("trust rules")
	}
}

func TestParseMode(t *testing.T) {
	for s, want := range map[string]Mode{"off": Off, "": Off, "try": Try, "Require": Require} {
		if m, err := ParseMode(s); err != nil || m != want || (s != "" && !equalFold(m.String(), s)) {
			t.Errorf("%q: %v %v", s, m, err)
		}
	}
	if _, err := ParseMode("dane-only"); err == nil {
		t.Error("bad mode accepted")
	}
}

func equalFold(a, b string) bool { return len(a) == len(b) && (a == b || a[0]^b[0] == 0x20) }

// TestAnswersOfOtherNames: a resolver's answer section may hold records
// of names that are neither the question nor its CNAME chain's end; they
// answer nothing (RFC 1034 section 3.6.2) and are never used as MX
// hosts, addresses or TLSA records. A "." among other MX records is no
// host (RFC 7505 section 3); a CNAME target in upper case is the same
// base domain in lower case.
func TestAnswersOfOtherNames(t *testing.T) {
	const tlsa = "3 1 1 0000000000000000000000000000000000000000000000000000000000000000"
	srv := startRawDNS(t)
	res := &Resolver{Addr: srv.addr, Timeout: 2 * time.Second}
	ctx := context.Background()

	srv.set(split(join(reply("example.org.", dns.TypeMX, true,
		"example.org. 60 IN CNAME alias.example.net.",
		"alias.example.net. 60 IN MX 10 mx.example.net.",
		"alias.example.net. 60 IN MX 0 .",
		"other.example. 60 IN MX 5 evil.example."))))
	set, err := res.LookupMX(ctx, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if set.Null || set.Implicit || len(set.Hosts) != 1 || set.Hosts[0].Host != "mx.example.net." || set.Expanded != "alias.example.net." {
		t.Errorf("MX set %+v", set)
	}
	srv.set(split(join(reply("example.org.", dns.TypeMX, true, "example.org. 60 IN MX 0 ."))))
	if set, err := res.LookupMX(ctx, "example.org"); err != nil || !set.Null || len(set.Hosts) != 0 {
		t.Errorf("null MX: %+v, %v", set, err)
	}
	// No MX, and a CNAME to the root: no implicit host "." (found by
	// FuzzAnswers).
	srv.set(split(join(reply("example.org.", dns.TypeMX, true, "example.org. 60 IN CNAME ."))))
	if set, err := res.LookupMX(ctx, "example.org"); err != nil || set.Null || !set.Implicit || len(set.Hosts) != 0 {
		t.Errorf("CNAME to the root: %+v, %v", set, err)
	}

	srv.set(split(join(
		reply("mx.example.org.", dns.TypeA, true, "mx.example.org. 60 IN CNAME Target.Example.",
			"target.example. 60 IN A 192.0.2.25", "evil.example. 60 IN A 203.0.113.1"),
		reply("mx.example.org.", dns.TypeAAAA, true, "evil.example. 60 IN AAAA 2001:db8::bad"),
		reply("_25._tcp.target.example.", dns.TypeTLSA, true, "_25._tcp.evil.example. 60 IN TLSA "+tlsa),
		reply("_25._tcp.mx.example.org.", dns.TypeTLSA, true),
	)))
	p, err := Lookup(ctx, Destination{Host: "mx.example.org"}, &Options{Mode: Try, Resolver: res})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Addrs) != 1 || p.Addrs[0].String() != "192.0.2.25" {
		t.Errorf("addresses %v", p.Addrs)
	}
	if p.Action != Opportunistic || len(p.Records) != 0 {
		t.Errorf("TLSA of another name used: %v %v", p.Action, p.Records)
	}
	var tlsaOwners []string
	for _, s := range srv.log() {
		if s.q.Qtype == dns.TypeTLSA {
			tlsaOwners = append(tlsaOwners, s.q.Name)
		}
	}
	if len(tlsaOwners) != 2 || tlsaOwners[0] != "_25._tcp.target.example." {
		t.Errorf("TLSA asked at %q", tlsaOwners)
	}
}
