package spf

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/dnstest"
)

// fixedNow is the %{t} of every test checker.
var fixedNow = time.Unix(1700000000, 0)

// world starts the DNS world the tests check against. Client addresses
// are from 192.0.2.0/24, 198.51.100.0/24 and 2001:db8::/32 (RFC 5737,
// RFC 3849); 127.0.0.1 is the loopback client of the SMTP tests.
func world(t testing.TB) *dnstest.Server {
	t.Helper()
	return dnstest.Start(t,
		dnstest.Zone{Name: "example.test", Text: `
			@             TXT  "v=spf1 ip4:192.0.2.1 ip6:2001:db8::1 -all"
			soft          TXT  "v=spf1 ip4:192.0.2.1 ~all"
			neutral       TXT  "v=spf1 ip4:192.0.2.1 ?all"
			default       TXT  "v=spf1 ip4:192.0.2.1"
			none          TXT  "google-site-verification=abc"
			perm          TXT  "v=spf1 ip4:192.0.2.1 frobnicate -all"
			two           TXT  "v=spf1 -all"
			two           TXT  "v=spf1 +all"
			inc           TXT  "v=spf1 include:soft.example.test include:example.test -all"
			badinc        TXT  "v=spf1 include:nothing.example.test -all"
			tempinc       TXT  "v=spf1 include:broken.test -all"
			v6            TXT  "v=spf1 a -all"
			v6            AAAA 2001:db8::53
			v6            A    192.0.2.53
			mxs           TXT  "v=spf1 mx/24 -all"
			mxs           MX   10 mx.example.test.
			mx            A    192.0.2.25
			mail          TXT  "v=spf1 ip4:192.0.2.10 ip4:127.0.0.1 -all"
			mail          A    192.0.2.10
			explained     TXT  "v=spf1 ip4:192.0.2.1 exp=why.%{d} -all"
			why.explained TXT  "%{i} may not send for %{d} (sender %{s}, helo %{h}, client %{c}, receiver %{r}, at %{t})"
			redir         TXT  "v=spf1 exp=ignored.example.test redirect=explained.example.test"
			ignored       TXT  "the explanation of the record that redirected"
			badexp        TXT  "v=spf1 exp=nowhere.example.test -all"
			twoexp        TXT  "v=spf1 exp=why.twoexp.example.test -all"
			why.twoexp    TXT  "one"
			why.twoexp    TXT  "two"
			void          TXT  "v=spf1 a:nx1.example.test a:nx2.example.test a:nx3.example.test -all"
			lookups       TXT  "v=spf1 a:h1.example.test a:h2.example.test a:h3.example.test a:h4.example.test a:h5.example.test a:h6.example.test a:h7.example.test a:h8.example.test a:h9.example.test a:h10.example.test a:h11.example.test -all"
			h1            A    198.51.100.1
			h2            A    198.51.100.2
			h3            A    198.51.100.3
			h4            A    198.51.100.4
			h5            A    198.51.100.5
			h6            A    198.51.100.6
			h7            A    198.51.100.7
			h8            A    198.51.100.8
			h9            A    198.51.100.9
			h10           A    198.51.100.10
			h11           A    198.51.100.11
			local         TXT  "v=spf1 ip4:127.0.0.1 -all"
			denied        TXT  "v=spf1 exp=why.%{d} -all"
			why.denied    TXT  "%{c} is not a mail server of %{o}"
			ptr           TXT  "v=spf1 -ip4:192.0.2.1 exp=why.%{d} -all"
			why.ptr       TXT  "%{p} at %{c}, %{V} %{I}"
			mx1.ptr       A    192.0.2.1
		`},
		dnstest.Zone{Name: "guess.test", Text: `
			@    A    192.0.2.50
			@    MX   10 mx
			mx   A    198.51.100.60
			@    TXT  "not an SPF record"
			host A    203.0.113.7
		`},
		dnstest.Zone{Name: "2.0.192.in-addr.arpa", Text: `
			1    PTR  other.test.
			1    PTR  mx1.ptr.example.test.
		`},
		dnstest.Zone{Name: "113.0.203.in-addr.arpa", Text: `
			7    PTR  host.guess.test.
		`},
		dnstest.Zone{Name: "broken.test", Text: `
			@    TXT  "v=spf1 ip4:127.0.0.1 -all"
		`},
		dnstest.Zone{Name: "slow.test", Text: `
			@    TXT  "v=spf1 ip4:127.0.0.1 -all"
		`},
	)
}

// checker returns a checker on srv with a fixed clock.
func checker(srv *dnstest.Server, opts Options) *Checker {
	opts.Resolver = srv.Resolver()
	if opts.Receiver == "" {
		opts.Receiver = "mx.example.org"
	}
	c := New(&opts)
	c.now = func() time.Time { return fixedNow }
	return c
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func check(t *testing.T, c *Checker, ip, helo, sender string) *Outcome {
	t.Helper()
	return c.CheckMailFrom(context.Background(), addr(ip), helo, sender)
}
