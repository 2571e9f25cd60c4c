package spf

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/internal/dnstest"
)

// strictWorld holds records that a lenient evaluator gets wrong, each
// named after the rule of RFC 7208 it breaks or exercises. The client
// 192.0.2.1 is authorized by ip4 in most of them, so that a result other
// than pass shows the rule applied although a term matched.
func strictWorld(t testing.TB) *dnstest.Server {
	t.Helper()
	return dnstest.Start(t,
		dnstest.Zone{Name: "strict.test", Text: `
			after         TXT  "v=spf1 ip4:192.0.2.1 frobnicate -all"
			aftermod      TXT  "v=spf1 +all -redirect=other.strict.test"
			redirect2     TXT  "v=spf1 ip4:192.0.2.1 redirect=a.strict.test redirect=b.strict.test"
			exp2          TXT  "v=spf1 ip4:192.0.2.1 exp=a.strict.test exp=b.strict.test -all"
			expempty      TXT  "v=spf1 ip4:192.0.2.1 exp= -all"
			expmacro      TXT  "v=spf1 ip4:192.0.2.1 exp=%{x}.strict.test -all"
			expc          TXT  "v=spf1 ip4:192.0.2.1 exp=%{c}.strict.test -all"
			expdangling   TXT  "v=spf1 ip4:192.0.2.1 exp=why.strict.test% -all"
			unknownbad    TXT  "v=spf1 ip4:192.0.2.1 note=%{z} -all"
			unknownok     TXT  "v=spf1 ip4:192.0.2.1 note=any/thing:%{d} -all"
			numeric       TXT  "v=spf1 ip4:192.0.2.1 a:192.0.2.1 -all"
			numtop        TXT  "v=spf1 ip4:192.0.2.1 a:host.123 -all"
			emptylabel    TXT  "v=spf1 ip4:192.0.2.1 a:host..strict.test -all"
			leadingdot    TXT  "v=spf1 ip4:192.0.2.1 a:.strict.test -all"
			dashtop       TXT  "v=spf1 ip4:192.0.2.1 a:host.-test -all"
			single        TXT  "v=spf1 ip4:192.0.2.1 a:localhost -all"
			emptyspec     TXT  "v=spf1 ip4:192.0.2.1 a: -all"
			longlabel     TXT  "v=spf1 ip4:192.0.2.1 a:a123456789012345678901234567890123456789012345678901234567890123.strict.test -all"
			cidr          TXT  "v=spf1 ip4:192.0.2.1 ip4:192.0.2.0/033 -all"
			cidrzero      TXT  "v=spf1 ip4:192.0.2.1 a/024 -all"
			tab           TXT  "v=spf1 ip4:192.0.2.1\009-all"
			highbit       TXT  "v=spf1 ip4:192.0.2.1 \150all"
			colon         TXT  "v=spf1 a:mx:1.strict.test/24 -all"
			colonbad      TXT  "v=spf1 ip4:192.0.2.1 a:strict.test:8080 -all"
			badinc        TXT  "v=spf1 include:syntax.strict.test -all"
			syntax        TXT  "v=spf1 ip4:192.0.2.1 a:museum"
			badredir      TXT  "v=spf1 ip4:192.0.2.99 redirect=syntax.strict.test"
			noredir       TXT  "v=spf1 redirect=nothing.strict.test"
			voidredir     TXT  "v=spf1 redirect=%{l}.strict.test"
			loop          TXT  "v=spf1 redirect=loop.strict.test"
			incloop       TXT  "v=spf1 include:incloop.strict.test -all"
			incvoid       TXT  "v=spf1 a:nx1.strict.test include:void2.strict.test -all"
			void2         TXT  "v=spf1 a:nx2.strict.test a:nx3.strict.test ?all"
			allredir      TXT  "v=spf1 -all redirect=pass.strict.test"
			pass          TXT  "v=spf1 +all"
			ptrmacro      TXT  "v=spf1 a:%{p} -all"
			ptrexists     TXT  "v=spf1 exists:%{p}.allow.strict.test -all"
			mx1.ptr       A    192.0.2.1
			mx1.ptr.strict.test.allow A 127.0.0.2
			local         TXT  "v=spf1 exists:%{l}.allow.strict.test -all"
			ok.allow      A    127.0.0.2
			revip         TXT  "v=spf1 exists:%{ir}.%{l1r-}.rev.strict.test -all"
			1.2.0.192.two.rev  A 127.0.0.2
			servfail      TXT  "v=spf1 a:broken.test -all"
			ptrfail       TXT  "v=spf1 ptr:strict.test -all"
			manymx        TXT  "v=spf1 mx -all"
			manymx        MX   1 m1.strict.test.
			manymx        MX   2 m2.strict.test.
			manymx        MX   3 m3.strict.test.
			manymx        MX   4 m4.strict.test.
			manymx        MX   5 m5.strict.test.
			manymx        MX   6 m6.strict.test.
			manymx        MX   7 m7.strict.test.
			manymx        MX   8 m8.strict.test.
			manymx        MX   9 m9.strict.test.
			manymx        MX   10 m10.strict.test.
			manymx        MX   11 m11.strict.test.
			m11           A    192.0.2.1
			nullmx        TXT  "v=spf1 mx ip4:192.0.2.1 -all"
			nullmx        MX   0 .
			incdepth      TXT  "v=spf1 include:d1.strict.test -all"
			d1            TXT  "v=spf1 include:d2.strict.test -all"
			d2            TXT  "v=spf1 include:d3.strict.test -all"
			d3            TXT  "v=spf1 include:d4.strict.test -all"
			d4            TXT  "v=spf1 include:d5.strict.test -all"
			d5            TXT  "v=spf1 include:d6.strict.test -all"
			d6            TXT  "v=spf1 include:d7.strict.test -all"
			d7            TXT  "v=spf1 include:d8.strict.test -all"
			d8            TXT  "v=spf1 include:d9.strict.test -all"
			d9            TXT  "v=spf1 include:d10.strict.test -all"
			d10           TXT  "v=spf1 include:d11.strict.test -all"
			d11           TXT  "v=spf1 +all"
		`},
		dnstest.Zone{Name: "2.0.192.in-addr.arpa", Text: `
			1    PTR  other.test.
			1    PTR  mx1.ptr.strict.test.
		`},
		dnstest.Zone{Name: "broken.test", Text: `
			@    A    192.0.2.1
		`},
	)
}

func strictCheck(t *testing.T, srv *dnstest.Server, ip, sender string) *Outcome {
	t.Helper()
	return check(t, checker(srv, Options{}), ip, "client.test", sender)
}

// TestSyntaxErrorAnywhere: RFC 7208 section 4.6, a syntax error anywhere
// in a record that is evaluated is a permerror, even after a term that
// matched; section 6, redirect= and exp= at most once; Appendix A, an
// unknown modifier's value is a macro-string.
func TestSyntaxErrorAnywhere(t *testing.T) {
	srv := strictWorld(t)
	for _, local := range []string{
		"after",       // an unknown mechanism after the match
		"aftermod",    // a qualifier on a modifier
		"redirect2",   // redirect= twice
		"exp2",        // exp= twice
		"expempty",    // exp= with no domain-spec (the erratum to section 6.2)
		"expmacro",    // exp= with an unknown macro letter
		"expc",        // %{c} outside an explanation (section 7.2)
		"expdangling", // a "%" at the end of exp=
		"unknownbad",  // an unknown modifier with a bad macro
		"cidr",        // ip4-cidr-length above 32
		"cidrzero",    // a CIDR length with a leading zero
		"tab",         // a tab is not a term separator (section 4.6.1)
		"highbit",     // a record is 7-bit ASCII (section 3.1)
	} {
		o := strictCheck(t, srv, "192.0.2.1", "a@"+local+".strict.test")
		if o.Result != PermError || !errors.Is(o.Err, ErrSyntax) {
			t.Errorf("%s: %s (%v), want permerror for the syntax error", local, o.Result, o.Err)
		}
	}
	o := strictCheck(t, srv, "192.0.2.1", "a@unknownok.strict.test")
	if o.Result != Pass || o.Mechanism != "ip4:192.0.2.1" {
		t.Errorf("a valid unknown modifier: %s %q (%v), want pass", o.Result, o.Mechanism, o.Err)
	}
}

// TestDomainSpecSyntax: RFC 7208 section 7.1, a domain-spec ends in a
// macro or "." toplabel, where a toplabel is not all digits and has no
// leading or trailing "-"; section 4.3 and section 4.8, a name with empty
// or overlong labels cannot be used. Every record here authorizes the
// client before the bad term.
func TestDomainSpecSyntax(t *testing.T) {
	srv := strictWorld(t)
	for _, local := range []string{
		"numeric",    // a:192.0.2.1, a numeric toplabel
		"numtop",     // a:host.123
		"emptylabel", // a:host..strict.test
		"leadingdot", // a:.strict.test
		"dashtop",    // a:host.-test
		"single",     // a:localhost, no "." toplabel
		"emptyspec",  // a: with nothing after it
		"longlabel",  // a label of 64 octets
		"colonbad",   // a ":" inside the toplabel
	} {
		o := strictCheck(t, srv, "192.0.2.1", "a@"+local+".strict.test")
		if o.Result != PermError || !errors.Is(o.Err, ErrSyntax) {
			t.Errorf("%s: %s (%v), want permerror", local, o.Result, o.Err)
		}
	}
}

// TestColonInDomainSpec: a ":" and a "/" are macro-literals (RFC 7208
// section 7.1), so "a:mx:1.strict.test/24" is the a mechanism for the
// name "mx:1.strict.test" with a /24. Through a *net.Resolver, which
// refuses such a name, it is a void lookup and evaluation goes on to
// -all; through a Resolver that queries any name, it matches.
func TestColonInDomainSpec(t *testing.T) {
	srv := strictWorld(t)
	o := strictCheck(t, srv, "192.0.2.1", "a@colon.strict.test")
	if o.Result != Fail || o.Mechanism != "-all" {
		t.Errorf("through net.Resolver: %s %q (%v), want fail by -all", o.Result, o.Mechanism, o.Err)
	}

	z := newSuiteZone(t, map[string][]suiteRecord{
		"colon.example.test": {{"TXT": rawJSON(`"v=spf1 a:mx:1.example.test/24 -all"`)}},
		"mx:1.example.test":  {{"A": rawJSON(`"192.0.2.7"`)}},
	})
	c := New(&Options{Resolver: z})
	o = c.CheckMailFrom(context.Background(), addr("192.0.2.99"), "client.test", "a@colon.example.test")
	if o.Result != Pass || o.Mechanism != "a:mx:1.example.test/24" {
		t.Errorf("through a permissive Resolver: %s %q (%v), want pass", o.Result, o.Mechanism, o.Err)
	}
}

// TestIncludeAndRedirectErrors: RFC 7208 section 5.2, an included record
// with a syntax error, or no record, is a permerror; section 6.1, so is a
// redirect= to a bad record or to none; both count towards the lookup
// limit, so loops end in a permerror.
func TestIncludeAndRedirectErrors(t *testing.T) {
	srv := strictWorld(t)
	for _, tt := range []struct {
		local string
		want  error
	}{
		{"badinc", ErrSyntax},   // the included record matches before its error
		{"badredir", ErrSyntax}, // the redirect target has a syntax error
		{"noredir", ErrNoRecord},
		{"voidredir", ErrNoRecord}, // the target is a.strict.test, no record
		{"loop", ErrLookupLimit},
		{"incloop", ErrLookupLimit},
		{"incdepth", ErrLookupLimit}, // 11 includes deep
	} {
		o := strictCheck(t, srv, "192.0.2.1", "a@"+tt.local+".strict.test")
		if o.Result != PermError || !errors.Is(o.Err, tt.want) {
			t.Errorf("%s: %s (%v), want permerror wrapping %v", tt.local, o.Result, o.Err, tt.want)
		}
	}
	// Section 6.1: redirect= is not used when a mechanism matched.
	if o := strictCheck(t, srv, "192.0.2.1", "a@allredir.strict.test"); o.Result != Fail || o.Mechanism != "-all" {
		t.Errorf("all before redirect=: %s %q (%v)", o.Result, o.Mechanism, o.Err)
	}
}

// TestVoidLookupsAcrossInclude: RFC 7208 section 4.6.4, the void lookups
// of included records count towards the one limit of the check.
func TestVoidLookupsAcrossInclude(t *testing.T) {
	srv := strictWorld(t)
	o := strictCheck(t, srv, "192.0.2.99", "a@incvoid.strict.test")
	if o.Result != PermError || !errors.Is(o.Err, ErrVoidLookupLimit) {
		t.Errorf("3 void lookups over an include: %s (%v), want permerror", o.Result, o.Err)
	}
	o = check(t, checker(srv, Options{VoidLookupLimit: 3}), "192.0.2.99", "client.test", "a@incvoid.strict.test")
	if o.Result != Fail {
		t.Errorf("with VoidLookupLimit 3: %s (%v), want fail", o.Result, o.Err)
	}
}

// TestPMacroInMechanisms: RFC 7208 section 7.3, %{p} is the validated
// name of the client; it works in mechanisms, not only in explanations.
// 192.0.2.1 has the PTR names other.test (which has no A record) and
// mx1.ptr.strict.test (whose A record is 192.0.2.1).
func TestPMacroInMechanisms(t *testing.T) {
	srv := strictWorld(t)
	for _, local := range []string{"ptrmacro", "ptrexists"} {
		o := strictCheck(t, srv, "192.0.2.1", "a@"+local+".strict.test")
		if o.Result != Pass {
			t.Errorf("%s from 192.0.2.1: %s %q (%v), want pass", local, o.Result, o.Mechanism, o.Err)
		}
		// No PTR name at all: %{p} is "unknown", and nothing matches.
		o = strictCheck(t, srv, "192.0.2.2", "a@"+local+".strict.test")
		if o.Result != Fail {
			t.Errorf("%s from 192.0.2.2: %s (%v), want fail", local, o.Result, o.Err)
		}
	}
}

// TestMacroEdgeCases: RFC 7208 section 7.3 transformers and URL escaping
// in exists, and a local-part that expands into a name with an empty
// label, which does not match (section 4.3 applied to target-names)
// rather than being a syntax error of the record.
func TestMacroEdgeCases(t *testing.T) {
	srv := strictWorld(t)
	for _, tt := range []struct {
		sender string
		want   Result
	}{
		{"ok@local.strict.test", Pass},
		{"nobody@local.strict.test", Fail},
		{"a..b@local.strict.test", Fail},
		{".@local.strict.test", Fail},
		{strings.Repeat("x", 64) + "@local.strict.test", Fail},
		// %{ir}.%{l1r-}: the reversed address, then the last part of
		// the local-part split at "-" after reversal, the first one.
		{"two-one@revip.strict.test", Pass},
		{"one-two@revip.strict.test", Fail},
	} {
		o := strictCheck(t, srv, "192.0.2.1", tt.sender)
		if o.Result != tt.want {
			t.Errorf("%s: %s (%v), want %s", tt.sender, o.Result, o.Err, tt.want)
		}
	}

	// %{L}: "a+b" URL-escaped is "a%2Bb", a name that only a Resolver
	// that queries any name can look up.
	z := newSuiteZone(t, map[string][]suiteRecord{
		"escape.example.test":    {{"TXT": rawJSON(`"v=spf1 exists:%{L}.esc.example.test -all"`)}},
		"a%2bb.esc.example.test": {{"A": rawJSON(`"127.0.0.2"`)}},
	})
	o := New(&Options{Resolver: z}).CheckMailFrom(context.Background(), addr("192.0.2.1"), "client.test", "a+b@escape.example.test")
	if o.Result != Pass {
		t.Errorf("%%{L}: %s (%v), want pass", o.Result, o.Err)
	}
}

// TestLookupFailures: RFC 7208 section 5, a DNS error in a mechanism's
// lookup is a temperror, except for ptr (section 5.5), which then does
// not match; section 4.6.4, an mx naming more than ten hosts is a
// permerror; a null MX (RFC 7505) names no host.
func TestLookupFailures(t *testing.T) {
	srv := strictWorld(t)
	srv.SetMode("broken.test", dnstest.ServFail(2, ""))
	o := strictCheck(t, srv, "192.0.2.1", "a@servfail.strict.test")
	if o.Result != TempError {
		t.Errorf("a: on SERVFAIL: %s (%v), want temperror", o.Result, o.Err)
	}
	var de *net.DNSError
	if !errors.As(o.Err, &de) {
		t.Errorf("temperror without the DNS error: %v", o.Err)
	}
	if o := strictCheck(t, srv, "192.0.2.1", "a@ptrfail.strict.test"); o.Result != Pass {
		t.Errorf("ptr:strict.test: %s (%v), want pass", o.Result, o.Err)
	}
	srv.SetMode("2.0.192.in-addr.arpa", dnstest.ServFail(2, ""))
	if o := strictCheck(t, srv, "192.0.2.1", "a@ptrfail.strict.test"); o.Result != Fail {
		t.Errorf("ptr:strict.test with the PTR lookup failing: %s (%v), want fail", o.Result, o.Err)
	}
	o = strictCheck(t, srv, "192.0.2.1", "a@manymx.strict.test")
	if o.Result != PermError || !errors.Is(o.Err, ErrLookupLimit) {
		t.Errorf("11 MX hosts: %s (%v), want permerror", o.Result, o.Err)
	}
	if o := strictCheck(t, srv, "192.0.2.1", "a@nullmx.strict.test"); o.Result != Pass {
		t.Errorf("null MX: %s (%v), want pass by ip4", o.Result, o.Err)
	}
}

// TestParseRecordRejects lists records the parser must refuse, from the
// ABNF of RFC 7208 section 12, and some it must take.
func TestParseRecordRejects(t *testing.T) {
	for _, s := range []string{
		"v=spf1 all:x",
		"v=spf1 include",
		"v=spf1 include:",
		"v=spf1 exists",
		"v=spf1 ip4",
		"v=spf1 ip4:192.0.2",
		"v=spf1 ip4:192.0.2.01",
		"v=spf1 ip4:2001:db8::1",
		"v=spf1 ip6:192.0.2.1",
		"v=spf1 ip6:fe80::1%eth0",
		"v=spf1 ip6:2001:db8::/129",
		"v=spf1 a/33",
		"v=spf1 a//129",
		"v=spf1 a/24/64",
		"v=spf1 a/",
		"v=spf1 mx:",
		"v=spf1 ptr/24",
		"v=spf1 ptr:",
		"v=spf1 redirect=",
		"v=spf1 1bad=x",
		"v=spf1 a:%{d",
		"v=spf1 a:%{d0}.example.com",
		"v=spf1 a:%{t}.example.com",
		"v=spf1 a:%{d}.exa%mple.com",
		"v=spf1 =x",
		"v=spf1 +",
		// A ":" is a macro-literal, but a domain-spec still needs its
		// "." toplabel (RFC 7208 section 7.1): "foo:bar" has none.
		"v=spf1 a:foo:bar/24",
	} {
		if _, err := parseRecord(s); !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: %v, want a syntax error", s, err)
		}
	}
	for _, s := range []string{
		"v=spf1",
		"V=SPF1 -ALL",
		"v=spf1   a   mx  ",
		"v=spf1 a:foo:bar/baz.example.com/24//64",
		"v=spf1 a:%{d}",
		"v=spf1 a:example.com.",
		"v=spf1 a:foo.example.xn--zckzah a:x.123-4",
		"v=spf1 exists:%{ir}.%{l1r+-}.%{d2}._spf.%{d} ptr:%{p}.example.com",
		"v=spf1 ip6:::ffff:192.0.2.1/128 ip4:0.0.0.0/0",
		"v=spf1 a:%% mx:x.%-",
		"v=spf1 foo.bar-baz_q=%{d}:/x redirect=%{o}",
	} {
		if _, err := parseRecord(s); err != nil {
			t.Errorf("%q: %v, want it parsed", s, err)
		}
	}
}

func rawJSON(s string) []byte { return []byte(s) }

// plainResolver has only the four methods of Resolver, as a wrapping
// resolver may: the address lookups go through LookupIPAddr, whose
// answer of both families is filtered.
type plainResolver struct{ r *net.Resolver }

func (p plainResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return p.r.LookupTXT(ctx, name)
}

func (p plainResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return p.r.LookupMX(ctx, name)
}

func (p plainResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return p.r.LookupIPAddr(ctx, host)
}

func (p plainResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return p.r.LookupAddr(ctx, addr)
}

// TestResolverWithoutLookupNetIP: the a, mx and exists mechanisms give
// the same results through a Resolver that lacks LookupNetIP; an address
// of the other family is no match, and counts as a void lookup (RFC 7208
// section 4.6.4) as an empty answer to the family's query would.
func TestResolverWithoutLookupNetIP(t *testing.T) {
	srv := world(t)
	c := New(&Options{Resolver: plainResolver{srv.Resolver()}})
	for _, tt := range []struct {
		ip, sender string
		want       Result
	}{
		{"2001:db8::53", "a@v6.example.test", Pass},
		{"192.0.2.53", "a@v6.example.test", Pass},
		{"2001:db8::54", "a@v6.example.test", Fail},
		{"192.0.2.200", "a@mxs.example.test", Pass},
		{"2001:db8::200", "a@mxs.example.test", Fail}, // mx.example.test has no AAAA
		{"192.0.2.99", "a@void.example.test", PermError},
	} {
		o := c.CheckMailFrom(context.Background(), addr(tt.ip), "client.test", tt.sender)
		if o.Result != tt.want {
			t.Errorf("%s from %s: %s (%v), want %s", tt.sender, tt.ip, o.Result, o.Err, tt.want)
		}
	}
	strict := New(&Options{Resolver: plainResolver{strictWorld(t).Resolver()}})
	for _, tt := range []struct {
		ip, sender string
		want       Result
	}{
		{"192.0.2.1", "ok@local.strict.test", Pass},
		{"2001:db8::1", "ok@local.strict.test", Pass}, // exists asks for A whatever the client
		{"192.0.2.1", "nobody@local.strict.test", Fail},
		{"192.0.2.1", "a@ptrmacro.strict.test", Pass},
	} {
		o := strict.CheckMailFrom(context.Background(), addr(tt.ip), "client.test", tt.sender)
		if o.Result != tt.want {
			t.Errorf("%s from %s: %s (%v), want %s", tt.sender, tt.ip, o.Result, o.Err, tt.want)
		}
	}
}
