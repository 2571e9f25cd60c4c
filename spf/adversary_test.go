package spf

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"testing"

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
