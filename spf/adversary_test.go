package spf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/smtpkit/smtpkit/internal/dnstest"
)

// garbageResolver answers as a broken or hostile Resolver might: nil
// entries, addresses of no family, errors that are not *net.DNSError, and
// records together with an error.
type garbageResolver struct {
	txt map[string][]string
	mx  map[string][]*net.MX
	ip  map[string][]net.IPAddr
	err map[string]error
}

func (g garbageResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	return g.txt[name], g.err[name]
}

func (g garbageResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	return g.mx[name], g.err[name]
}

func (g garbageResolver) LookupIPAddr(_ context.Context, name string) ([]net.IPAddr, error) {
	return g.ip[name], g.err[name]
}

func (g garbageResolver) LookupAddr(_ context.Context, name string) ([]string, error) {
	return nil, g.err[name]
}

// TestGarbageResolver: whatever a Resolver returns, a check neither
// panics nor passes on data it could not use. A nil MX entry, an
// address of no family, an error that is not a *net.DNSError (temperror,
// never "not found") all keep the client unauthorized.
func TestGarbageResolver(t *testing.T) {
	g := garbageResolver{
		txt: map[string][]string{
			"nilmx.test.":    {"v=spf1 mx ip4:192.0.2.1 -all"},
			"badip.test.":    {"v=spf1 a -all"},
			"plainerr.test.": {"v=spf1 a:err.test -all"},
			"both.test.":     {"v=spf1 +all"},
			"nilmx2.test.":   {"v=spf1 mx -all"},
		},
		mx: map[string][]*net.MX{
			"nilmx.test.":  {nil, {Host: "mx.test.", Pref: 1}},
			"nilmx2.test.": {nil},
		},
		ip: map[string][]net.IPAddr{
			"badip.test.": {{IP: nil}, {IP: net.IP{1, 2, 3}}, {IP: make(net.IP, 17)}},
			"mx.test.":    {{IP: net.ParseIP("192.0.2.1")}},
		},
		err: map[string]error{
			"err.test.":  errors.New("resolver exploded"),
			"both.test.": errors.New("partial answer"),
		},
	}
	c := New(&Options{Resolver: g})
	for _, tt := range []struct {
		sender string
		want   Result
	}{
		{"a@nilmx.test", Pass},
		{"a@nilmx2.test", Fail},
		{"a@badip.test", Fail},
		{"a@plainerr.test", TempError},
		{"a@both.test", TempError},
	} {
		o := c.CheckMailFrom(context.Background(), addr("192.0.2.1"), "client.test", tt.sender)
		if o.Result != tt.want {
			t.Errorf("%s: %s (%v), want %s", tt.sender, o.Result, o.Err, tt.want)
		}
	}
}

// TestTruncationWithTrailingDot: RFC 7208 section 7.3 truncates an
// expanded name longer than 253 octets; the trailing dot of a
// domain-end ("." toplabel ".") is not part of those 253, so a name of
// exactly 253 octets is queried whole.
func TestTruncationWithTrailingDot(t *testing.T) {
	label := strings.Repeat("a", 63)
	// 3*64 + len("b"*N) + len(".long.test") = 253
	suffix := ".long.test"
	rest := 253 - 3*64 - len(suffix)
	local := label + "." + label + "." + label + "." + strings.Repeat("b", rest)
	name := local + suffix
	if len(name) != 253 {
		t.Fatalf("test name is %d octets", len(name))
	}
	srv := dnstest.Start(t, dnstest.Zone{Name: "long.test", Text: `
		@     TXT "v=spf1 exists:%{l}.long.test. -all"
		` + strings.TrimSuffix(local, ".") + ` A 127.0.0.2
		` + strings.Join(strings.Split(local, ".")[1:], ".") + ` A 127.0.0.2
	`})
	c := checker(srv, Options{})
	o := check(t, c, "192.0.2.1", "client.test", local+"@long.test")
	if o.Result != Pass {
		t.Errorf("exists on a 253-octet name with a trailing dot: %s %q (%v), want pass", o.Result, o.Mechanism, o.Err)
	}
	var asked []string
	for _, q := range srv.Queries() {
		asked = append(asked, q.String())
	}
	if !strings.Contains(strings.Join(asked, "\n"), name) {
		t.Errorf("the whole name was not queried; queries:\n%s", strings.Join(asked, "\n"))
	}
}

// TestHELONameWithAt: RFC 7208 section 2.3 and section 4.3, the HELO
// identity is the HELO name itself; a name with an "@" is not a domain,
// so it gives none, not the result of the domain after the "@". The
// same goes for the null reverse-path, checked as postmaster@<HELO>.
func TestHELONameWithAt(t *testing.T) {
	srv := dnstest.Start(t, dnstest.Zone{Name: "attacker.test", Text: `
		@  TXT "v=spf1 +all"
	`})
	c := checker(srv, Options{})
	for _, helo := range []string{"mail.victim.test@attacker.test", "x@attacker.test"} {
		o := c.CheckHELO(context.Background(), addr("192.0.2.1"), helo)
		if o.Result != None {
			t.Errorf("CheckHELO(%q): %s domain %q, want none", helo, o.Result, o.Domain)
		}
		o = c.CheckMailFrom(context.Background(), addr("192.0.2.1"), helo, "")
		if o.Result != None {
			t.Errorf("null sender, HELO %q: %s domain %q, want none", helo, o.Result, o.Domain)
		}
	}
}

// TestExpansionMemoryBounded: a record or explanation made of thousands
// of %{s} macros, with a long sender, must not build megabytes of text
// that truncation (RFC 7208 section 7.3) or the reply limit throws
// away.
func TestExpansionMemoryBounded(t *testing.T) {
	env := &macroEnv{
		sender: strings.Repeat("x.", 500) + "@" + strings.Repeat("y.", 100) + "test",
		domain: "example.test",
		ip:     addr("192.0.2.1"),
	}
	for _, tt := range []struct {
		spec    string
		explain bool
	}{
		{strings.Repeat("%{s}", 16000), false},
		{strings.Repeat("%{s}", 16000), true},
		{strings.Repeat("%{sr}", 13000), false},
		{strings.Repeat("%{Sr}", 13000), true},
	} {
		spec, explain := tt.spec, tt.explain
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		out, err := expandMacros(spec, env, explain)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		if !explain && len(out) > maxDomainLen {
			t.Errorf("domain-spec expanded to %d octets", len(out))
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
			t.Errorf("%.10s... explain=%v: expanding allocated %d bytes", spec, explain, alloc)
		}
	}
}

// TestExpansionTruncationSame: bounding the expansion does not change
// its result: the rightmost labels of a long domain-spec are kept.
func TestExpansionTruncationSame(t *testing.T) {
	env := &macroEnv{sender: "abc.def@ex.test", local: "abc.def", domain: "ex.test", ip: addr("192.0.2.1")}
	for _, spec := range []string{
		strings.Repeat("%{l}.", 200) + "end.test",
		strings.Repeat("%{d}", 300) + ".end.test",
		strings.Repeat("x", 300) + "." + strings.Repeat("%{l}", 20) + ".end.test",
		strings.Repeat("a.", 130) + "end.test",
		strings.Repeat("%{l}", 300),
	} {
		got, err := expandMacros(spec, env, false)
		if err != nil {
			t.Fatal(err)
		}
		// The reference: expand without a bound, then truncate.
		var full strings.Builder
		for i := 0; i < len(spec); {
			if strings.HasPrefix(spec[i:], "%{l}") {
				full.WriteString(env.local)
				i += 4
			} else if strings.HasPrefix(spec[i:], "%{d}") {
				full.WriteString(env.domain)
				i += 4
			} else {
				full.WriteByte(spec[i])
				i++
			}
		}
		if want := truncateDomain(full.String()); got != want {
			t.Errorf("%.40q...: got %q, want %q", spec, got, want)
		}
	}
}

// TestDNSTimeoutIsTempError: RFC 7208 section 4.6.4 and section 5, a
// lookup that times out in an evaluated term is a temperror, never a
// pass by a later term, at the top, in an include, in a redirect, in an
// mx host; and a check whose context is done before it starts is a
// temperror too, not none.
func TestDNSTimeoutIsTempError(t *testing.T) {
	srv := dnstest.Start(t,
		dnstest.Zone{Name: "ok.test", Text: `
			inc    TXT "v=spf1 include:drop.test +all"
			redir  TXT "v=spf1 redirect=drop.test"
			a      TXT "v=spf1 a:drop.test +all"
			mx     TXT "v=spf1 mx:ok.test +all"
			@      MX  10 host.drop.test.
			exists TXT "v=spf1 exists:drop.test +all"
		`},
		dnstest.Zone{Name: "drop.test", Text: `
			@     TXT "v=spf1 +all"
			@     A   192.0.2.1
			host  A   192.0.2.1
		`},
	)
	srv.SetMode("drop.test", dnstest.Drop())
	c := checker(srv, Options{Timeout: 700 * time.Millisecond})
	for _, local := range []string{"inc", "redir", "a", "mx", "exists"} {
		o := check(t, c, "192.0.2.99", "client.test", "x@"+local+".ok.test")
		if o.Result != TempError {
			t.Errorf("%s: %s %q (%v), want temperror", local, o.Result, o.Mechanism, o.Err)
		}
	}
	o := check(t, c, "192.0.2.99", "client.test", "x@drop.test")
	if o.Result != TempError {
		t.Errorf("the record lookup timing out: %s (%v), want temperror", o.Result, o.Err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o = checker(srv, Options{}).CheckMailFrom(ctx, addr("192.0.2.99"), "client.test", "x@a.ok.test")
	if o.Result != TempError {
		t.Errorf("a canceled context: %s (%v), want temperror", o.Result, o.Err)
	}
	srv.SetMode("drop.test", dnstest.ServFail(2, ""))
	for _, local := range []string{"inc", "redir", "a", "mx", "exists"} {
		o := check(t, c, "192.0.2.99", "client.test", "x@"+local+".ok.test")
		if o.Result != TempError {
			t.Errorf("%s on SERVFAIL: %s %q (%v), want temperror", local, o.Result, o.Mechanism, o.Err)
		}
	}
}

// TestTXTStrings: RFC 7208 section 3.3, the strings of one TXT record are
// joined without spaces; section 4.5, only a record that starts with
// "v=spf1" followed by a space or its end is SPF, whatever its case; a
// long record (over TCP) is evaluated whole.
func TestTXTStrings(t *testing.T) {
	var long strings.Builder
	long.WriteString(`"v=spf1"`)
	for i := range 1200 {
		fmt.Fprintf(&long, ` " ip4:198.51.%d.%d"`, i/250, i%250)
	}
	long.WriteString(` " ip4:192.0.2.1 -all"`)
	srv := dnstest.Start(t, dnstest.Zone{Name: "txt.test", Text: `
		split    TXT "v=spf1 ip4:192.0." "2.1 -all"
		nospace  TXT "v=spf1" "ip4:192.0.2.1 -all"
		upper    TXT "V=SPF1 IP4:192.0.2.1 -ALL"
		spf10    TXT "v=spf10 +all"
		only     TXT "v=spf1"
		other    TXT "v=spf1 ip4:192.0.2.1 -all"
		other    TXT "spf2.0/pra +all"
		other    TXT "v=spf1-all"
		long     TXT ` + long.String() + `
	`})
	c := checker(srv, Options{})
	for _, tt := range []struct {
		local string
		want  Result
	}{
		{"split", Pass},
		{"nospace", None},
		{"upper", Pass},
		{"spf10", None},
		{"only", Neutral},
		{"other", Pass},
		{"long", Pass},
	} {
		o := check(t, c, "192.0.2.1", "client.test", "x@"+tt.local+".txt.test")
		if o.Result != tt.want {
			t.Errorf("%s: %s (%v), want %s", tt.local, o.Result, o.Err, tt.want)
		}
	}
}

// TestLookupLimitAccounting: RFC 7208 section 4.6.4, the ten
// DNS-querying terms are counted over the whole check: the include
// terms and the terms of included records, redirect=, terms whose lookup
// failed or was void; exp= is not counted; all, ip4 and ip6 are free.
func TestLookupLimitAccounting(t *testing.T) {
	srv := dnstest.Start(t, dnstest.Zone{Name: "lim.test", Text: `
		; 9 a terms, then redirect=: ten terms, the last one matches
		nine     TXT "v=spf1 a:h.lim.test a:h.lim.test a:h.lim.test a:h.lim.test a:h.lim.test a:h.lim.test a:h.lim.test a:h.lim.test a:h.lim.test redirect=pass.lim.test"
		ten      TXT "v=spf1 a:h.lim.test a:h.lim.test a:h.lim.test a:h.lim.test a:h.lim.test a:h.lim.test a:h.lim.test a:h.lim.test a:h.lim.test a:h.lim.test redirect=pass.lim.test"
		pass     TXT "v=spf1 ip4:192.0.2.1 ip4:192.0.2.2 ip6:2001:db8::1 all"
		h        A   198.51.100.1
		; include counts, and so do the terms of the included record
		inc      TXT "v=spf1 include:five.lim.test include:four.lim.test ip4:192.0.2.1 -all"
		five     TXT "v=spf1 a:h.lim.test a:h.lim.test a:h.lim.test a:h.lim.test ?all"
		four     TXT "v=spf1 a:h.lim.test a:h.lim.test a:h.lim.test ?all"
		inc10    TXT "v=spf1 include:five.lim.test include:five.lim.test ip4:192.0.2.1 -all"
		inc11    TXT "v=spf1 include:five.lim.test include:five.lim.test a:h.lim.test ip4:192.0.2.1 -all"
		; exp= does not count, the explanation comes back
		expten   TXT "v=spf1 a:h.lim.test a:h.lim.test a:h.lim.test a:h.lim.test a:h.lim.test a:h.lim.test a:h.lim.test a:h.lim.test a:h.lim.test a:h.lim.test exp=why.lim.test -all"
		why      TXT "no"
		; a MX with exactly ten hosts is fine
		mx10     TXT "v=spf1 mx -all"
		mx10     MX  1 m1.lim.test.
		mx10     MX  2 m2.lim.test.
		mx10     MX  3 m3.lim.test.
		mx10     MX  4 m4.lim.test.
		mx10     MX  5 m5.lim.test.
		mx10     MX  6 m6.lim.test.
		mx10     MX  7 m7.lim.test.
		mx10     MX  8 m8.lim.test.
		mx10     MX  9 m9.lim.test.
		mx10     MX  10 m10.lim.test.
		m10      A   192.0.2.1
	`})
	c := checker(srv, Options{VoidLookupLimit: 100})
	for _, tt := range []struct {
		local string
		want  Result
		err   error
	}{
		{"nine", Pass, nil},
		{"ten", PermError, ErrLookupLimit},
		{"inc", Pass, nil},                   // 2 + 4 + 3 = 9
		{"inc10", Pass, nil},                 // 2 + 4 + 4 = 10
		{"inc11", PermError, ErrLookupLimit}, // 2 + 4 + 4 + 1
		{"expten", Fail, nil},
		{"mx10", Pass, nil},
	} {
		o := check(t, c, "192.0.2.1", "client.test", "x@"+tt.local+".lim.test")
		if o.Result != tt.want || (tt.err != nil && !errors.Is(o.Err, tt.err)) {
			t.Errorf("%s: %s (%v), want %s", tt.local, o.Result, o.Err, tt.want)
		}
		if tt.local == "expten" && o.Explanation != "no" {
			t.Errorf("exp= after ten terms: explanation %q, want \"no\"", o.Explanation)
		}
	}
}

// TestPTRNameLimit: RFC 7208 section 4.6.4, only the first ten PTR names
// are looked at; a name after them that would validate is ignored.
func TestPTRNameLimit(t *testing.T) {
	var ptrs strings.Builder
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&ptrs, "77 PTR n%d.ptr.test.\n", i)
	}
	ptrs.WriteString("77 PTR good.ptr.test.\n")
	srv := dnstest.Start(t,
		dnstest.Zone{Name: "ptr.test", Text: `
			@     TXT "v=spf1 ptr -all"
			good  A   192.0.2.77
		`},
		dnstest.Zone{Name: "2.0.192.in-addr.arpa", Text: ptrs.String()},
	)
	o := check(t, checker(srv, Options{}), "192.0.2.77", "client.test", "x@ptr.test")
	if o.Result != Fail {
		t.Errorf("the eleventh PTR name validates: %s %q (%v), want fail", o.Result, o.Mechanism, o.Err)
	}
}

// TestUnicodeDomain: RFC 8616 section 3, a U-label domain in MAIL FROM
// or HELO (SMTPUTF8) is looked up as its A-labels, so a domain's -all
// is not bypassed by writing the domain in Unicode; a name that is no
// valid IDN gives none.
func TestUnicodeDomain(t *testing.T) {
	srv := dnstest.Start(t, dnstest.Zone{Name: "xn--bcher-kva.test", Text: `
		@     TXT "v=spf1 ip4:192.0.2.1 exp=why.%{d} -all"
		why   TXT "%{d} %{o} %{h}"
	`})
	c := checker(srv, Options{})
	o := c.CheckMailFrom(context.Background(), addr("192.0.2.99"), "mail.test", "jöran@Bücher.test")
	if o.Result != Fail {
		t.Errorf("U-label MAIL FROM domain: %s (%v), want fail", o.Result, o.Err)
	}
	if want := "xn--bcher-kva.test xn--bcher-kva.test mail.test"; o.Explanation != want {
		t.Errorf("explanation %q, want %q", o.Explanation, want)
	}
	if o := c.CheckMailFrom(context.Background(), addr("192.0.2.1"), "mail.test", "a@bücher.test"); o.Result != Pass {
		t.Errorf("U-label MAIL FROM domain, authorized client: %s (%v), want pass", o.Result, o.Err)
	}
	if o := c.CheckHELO(context.Background(), addr("192.0.2.99"), "bücher.test"); o.Result != Fail {
		t.Errorf("U-label HELO: %s (%v), want fail", o.Result, o.Err)
	}
	if o := c.CheckMailFrom(context.Background(), addr("192.0.2.99"), "mail.test", "a@b\u00ad\u200d.test"); o.Result != None {
		t.Errorf("an invalid IDN: %s (%v), want none", o.Result, o.Err)
	}
}

// TestAuthResultInjection: the HELO name and the MAIL FROM address are
// the client's words; in an Authentication-Results header (RFC 8601)
// they must stay one value each, not close a quoted-string and add a
// result of their own.
func TestAuthResultInjection(t *testing.T) {
	srv := dnstest.Start(t, dnstest.Zone{Name: "ok.test", Text: `
		@  TXT "v=spf1 -all"
	`})
	c := checker(srv, Options{})
	for _, tt := range []struct{ helo, sender string }{
		{`x\";dkim=pass`, ""},
		{`x\";dkim=pass`, "a@ok.test"},
		{"mail.test", `"a\";dkim=pass;x=\"b"@ok.test`},
		{"mail.test\r\nX-Injected:\tyes", "a@ok.test"},
	} {
		o := c.CheckMailFrom(context.Background(), addr("192.0.2.1"), tt.helo, tt.sender)
		h := authres.Format("mx.example.org", []authres.Result{o.AuthResult()})
		if strings.ContainsAny(h, "\r\n") {
			t.Errorf("HELO %q, sender %q: a line break in %q", tt.helo, tt.sender, h)
			continue
		}
		_, results, err := authres.Parse(h)
		if err != nil {
			t.Errorf("HELO %q, sender %q: %q does not parse: %v", tt.helo, tt.sender, h, err)
			continue
		}
		if len(results) != 1 {
			t.Errorf("HELO %q, sender %q: %q has %d results", tt.helo, tt.sender, h, len(results))
			continue
		}
		if _, ok := results[0].(*authres.SPFResult); !ok {
			t.Errorf("HELO %q, sender %q: %q gives %T", tt.helo, tt.sender, h, results[0])
		}
	}
}

// TestAddressForms: RFC 7208 section 5.6, ip6 networks may end in
// dotted IPv4 (RFC 4291 section 2.2) and ip4 networks have no leading
// zeros; an IPv4-mapped client is an IPv4 client (section 5), so ip4
// matches it and an ip6 network of mapped addresses does not; a record
// that does not begin with "v=spf1" (a leading space) is no record
// (section 4.5).
func TestAddressForms(t *testing.T) {
	srv := dnstest.Start(t, dnstest.Zone{Name: "addr.test", Text: `
		embedded  TXT "v=spf1 ip6:2001:db8::192.0.2.1 -all"
		mapped    TXT "v=spf1 ip6:::ffff:192.0.2.0/120 -all"
		v4        TXT "v=spf1 ip4:192.0.2.0/24 -all"
		zeros     TXT "v=spf1 ip4:192.0.2.01 +all"
		big       TXT "v=spf1 ip4:192.0.2.1/4294967328 +all"
		v6in4     TXT "v=spf1 ip4:::ffff:192.0.2.1 +all"
		lead      TXT " v=spf1 +all"
		dual      TXT "v=spf1 a:h.addr.test/24//64 -all"
		h         A    192.0.2.77
		h         AAAA 2001:db8:1::1
	`})
	c := checker(srv, Options{})
	for _, tt := range []struct {
		ip, local string
		want      Result
	}{
		{"2001:db8::c000:201", "embedded", Pass},
		{"2001:db8::c000:202", "embedded", Fail},
		{"::ffff:192.0.2.1", "mapped", Fail},
		{"::ffff:192.0.2.1", "v4", Pass},
		{"192.0.2.1", "zeros", PermError},
		{"192.0.2.1", "big", PermError},
		{"192.0.2.1", "v6in4", PermError},
		{"192.0.2.1", "lead", None},
		{"192.0.2.200", "dual", Pass},
		{"2001:db8:1::ffff", "dual", Pass},
		{"2001:db8:2::1", "dual", Fail},
		{"::ffff:192.0.2.9", "dual", Pass},
	} {
		o := check(t, c, tt.ip, "client.test", "x@"+tt.local+".addr.test")
		if o.Result != tt.want {
			t.Errorf("%s from %s: %s (%v), want %s", tt.local, tt.ip, o.Result, o.Err, tt.want)
		}
	}
}

// TestPTRLookedUpOnce: the client's PTR names and their validation (RFC
// 7208 section 5.5) do not change during a check, so ptr mechanisms and
// %{p} in several included domains share one PTR query and one address
// query per name, instead of each domain amplifying eleven queries; the
// results stay those of section 7.3 (a name below <domain> preferred).
func TestPTRLookedUpOnce(t *testing.T) {
	srv := dnstest.Start(t,
		dnstest.Zone{Name: "once.test", Text: `
			@     TXT "v=spf1 include:i1.once.test include:i2.once.test include:i3.once.test ptr ptr:other.test exists:%{p}.top.once.test -all"
			i1    TXT "v=spf1 exists:%{p}.in.once.test ?all"
			i2    TXT "v=spf1 ptr:i2.once.test exists:%{p}.in.once.test ?all"
			i3    TXT "v=spf1 exists:%{p}.in.once.test ?all"
			mx.i3 A   192.0.2.5
			mx.i3.once.test.top  A 127.0.0.2
		`},
		dnstest.Zone{Name: "other.test", Text: `
			mx  A 192.0.2.5
		`},
		dnstest.Zone{Name: "2.0.192.in-addr.arpa", Text: `
			5  PTR  mx.other.test.
			5  PTR  mx.i3.once.test.
			5  PTR  nx.once.test.
		`},
	)
	c := checker(srv, Options{VoidLookupLimit: 10})
	o := check(t, c, "192.0.2.5", "client.test", "x@once.test")
	// The ptr terms: i2's does not match, the top's plain ptr matches
	// mx.i3.once.test.
	if o.Result != Pass || o.Mechanism != "ptr" {
		t.Errorf("%s %q (%v), want pass by ptr", o.Result, o.Mechanism, o.Err)
	}
	ptrs, addrs := 0, map[string]int{}
	for _, q := range srv.Queries() {
		switch strings.Fields(q.String())[1] {
		case "PTR":
			ptrs++
		case "A", "AAAA":
			addrs[q.Name]++
		}
	}
	if ptrs != 1 {
		t.Errorf("%d PTR queries, want 1", ptrs)
	}
	for _, n := range []string{"mx.other.test.", "mx.i3.once.test.", "nx.once.test."} {
		if addrs[n] != 1 {
			t.Errorf("%s queried %d times, want once", n, addrs[n])
		}
	}
	// %{p} with the domain of the record: i3's exists asks for
	// mx.i3.once.test.in.once.test, the top's exists is not reached.
	srv.ResetQueries()
	o = check(t, c, "192.0.2.5", "client.test", "x@i3.once.test")
	if o.Result != Neutral {
		t.Errorf("i3 alone: %s %q (%v), want neutral", o.Result, o.Mechanism, o.Err)
	}
	found := false
	for _, q := range srv.Queries() {
		found = found || q.Name == "mx.i3.once.test.in.once.test."
	}
	if !found {
		t.Errorf("%%{p} in i3 did not pick the name below i3.once.test: %v", srv.Queries())
	}
}

// TestZonedClient: the zone of a link-local client address names an
// interface of this host, not part of the address (RFC 4007 section 11);
// ip6 and the macros see the address alone.
func TestZonedClient(t *testing.T) {
	srv := dnstest.Start(t, dnstest.Zone{Name: "zone.test", Text: `
		@   TXT "v=spf1 ip6:fe80::/64 -all"
		exp TXT "v=spf1 -all exp=why.zone.test"
		why TXT "%{c} %{i}"
	`})
	c := checker(srv, Options{})
	ip := netip.MustParseAddr("fe80::1%eth0")
	if o := c.CheckMailFrom(context.Background(), ip, "client.test", "x@zone.test"); o.Result != Pass || o.IP.Zone() != "" {
		t.Errorf("fe80::1%%eth0: %s (%v), IP %v, want pass for fe80::1", o.Result, o.Err, o.IP)
	}
	o := c.CheckMailFrom(context.Background(), ip, "client.test", "x@exp.zone.test")
	if want := "fe80::1 " + dotIP(netip.MustParseAddr("fe80::1")); o.Explanation != want {
		t.Errorf("explanation %q, want %q", o.Explanation, want)
	}
}

// TestFailedLookupsCount: RFC 7208 section 4.6.4 limits terms, not
// successful lookups: ptr terms whose PTR lookup fails (no match, section
// 5.5) count all the same, so an eleventh term is a permerror.
func TestFailedLookupsCount(t *testing.T) {
	srv := dnstest.Start(t,
		dnstest.Zone{Name: "fl.test", Text: `
			ten    TXT "v=spf1 ptr ptr ptr ptr ptr ptr ptr ptr ptr ptr ip4:192.0.2.1 -all"
			eleven TXT "v=spf1 ptr ptr ptr ptr ptr ptr ptr ptr ptr ptr a ip4:192.0.2.1 -all"
		`},
		dnstest.Zone{Name: "2.0.192.in-addr.arpa", Text: `
			1 PTR x.fl.test.
		`},
	)
	srv.SetMode("2.0.192.in-addr.arpa", dnstest.ServFail(2, ""))
	c := checker(srv, Options{})
	if o := check(t, c, "192.0.2.1", "client.test", "x@ten.fl.test"); o.Result != Pass {
		t.Errorf("ten failing ptr terms, then ip4: %s (%v), want pass", o.Result, o.Err)
	}
	if o := check(t, c, "192.0.2.1", "client.test", "x@eleven.fl.test"); o.Result != PermError || !errors.Is(o.Err, ErrLookupLimit) {
		t.Errorf("ten failing ptr terms and an a: %s (%v), want permerror", o.Result, o.Err)
	}
}
