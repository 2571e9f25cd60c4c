package spf

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/smtpkit/smtpkit/internal/dnstest"
)

func TestResultWords(t *testing.T) {
	srv := world(t)
	c := checker(srv, Options{})
	tests := []struct {
		name, ip, sender string
		want             Result
		mechanism        string
	}{
		{"pass", "192.0.2.1", "a@example.test", Pass, "ip4:192.0.2.1"},
		{"fail", "192.0.2.99", "a@example.test", Fail, "-all"},
		{"softfail", "192.0.2.99", "a@soft.example.test", SoftFail, "~all"},
		{"neutral", "192.0.2.99", "a@neutral.example.test", Neutral, "?all"},
		{"neutral by default", "192.0.2.99", "a@default.example.test", Neutral, "default"},
		{"none without record", "192.0.2.99", "a@none.example.test", None, ""},
		{"none for NXDOMAIN", "192.0.2.99", "a@nowhere.example.test", None, ""},
		{"permerror unknown term", "192.0.2.99", "a@perm.example.test", PermError, ""},
		{"permerror two records", "192.0.2.99", "a@two.example.test", PermError, ""},
		{"include pass", "192.0.2.1", "a@inc.example.test", Pass, "include:soft.example.test"},
		{"include not matching", "192.0.2.99", "a@inc.example.test", Fail, "-all"},
		{"include of no record", "192.0.2.99", "a@badinc.example.test", PermError, ""},
		{"mx", "192.0.2.200", "a@mxs.example.test", Pass, "mx/24"},
		{"redirect", "192.0.2.99", "a@redir.example.test", Fail, "-all"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := check(t, c, tt.ip, "client.test", tt.sender)
			if o.Result != tt.want || o.Mechanism != tt.mechanism {
				t.Fatalf("got %s mechanism %q (err %v), want %s mechanism %q", o.Result, o.Mechanism, o.Err, tt.want, tt.mechanism)
			}
			if (o.Err != nil) != (tt.want == TempError || tt.want == PermError) {
				t.Errorf("Err = %v for %s", o.Err, o.Result)
			}
			if o.Identity != MailFrom || o.Guessed {
				t.Errorf("identity %s, guessed %v", o.Identity, o.Guessed)
			}
		})
	}
}

func TestPermErrorCause(t *testing.T) {
	srv := world(t)
	o := check(t, checker(srv, Options{}), "192.0.2.99", "client.test", "a@two.example.test")
	if !errors.Is(o.Err, ErrMultipleRecords) {
		t.Fatalf("Err = %v, want it to wrap ErrMultipleRecords", o.Err)
	}
	if !strings.Contains(o.Received, `problem="multiple matching DNS records";`) {
		t.Errorf("Received-SPF without the problem: %s", o.Received)
	}
}

func TestIPv6(t *testing.T) {
	srv := world(t)
	c := checker(srv, Options{})
	for _, tt := range []struct {
		ip, sender string
		want       Result
	}{
		{"2001:db8::1", "a@example.test", Pass},
		{"2001:db8::2", "a@example.test", Fail},
		{"2001:db8::53", "a@v6.example.test", Pass},      // a matches AAAA
		{"192.0.2.53", "a@v6.example.test", Pass},        // and A
		{"::ffff:192.0.2.53", "a@v6.example.test", Pass}, // mapped is IPv4
		{"2001:db8::54", "a@v6.example.test", Fail},
	} {
		o := check(t, c, tt.ip, "client.test", tt.sender)
		if o.Result != tt.want {
			t.Errorf("%s from %s: %s (%v), want %s", tt.sender, tt.ip, o.Result, o.Err, tt.want)
		}
	}
	o := check(t, c, "2001:db8::1", "client.test", "a@example.test")
	if !strings.Contains(o.Received, `client-ip="2001:db8::1";`) || !strings.Contains(o.Received, `mechanism="ip6:2001:db8::1";`) {
		t.Errorf("IPv6 Received-SPF: %s", o.Received)
	}
}

// queried returns the distinct names of srv's queries of type qtype.
func queried(srv *dnstest.Server, qtype uint16) []string {
	var names []string
	for _, q := range srv.Queries() {
		if q.Type == qtype && !slices.Contains(names, q.Name) {
			names = append(names, q.Name)
		}
	}
	return names
}

func TestLookupLimit(t *testing.T) {
	srv := world(t)
	o := check(t, checker(srv, Options{}), "192.0.2.99", "client.test", "a@lookups.example.test")
	if o.Result != PermError || !errors.Is(o.Err, ErrLookupLimit) {
		t.Fatalf("11 a terms: %s (%v), want permerror for the lookup limit", o.Result, o.Err)
	}
	// RFC 7208 section 4.6.4: the 11th term is never queried.
	names := queried(srv, dns.TypeA)
	if len(names) != 10 || slices.Contains(names, "h11.example.test.") {
		t.Errorf("A queries: %v", names)
	}

	o = check(t, checker(srv, Options{LookupLimit: 11}), "192.0.2.99", "client.test", "a@lookups.example.test")
	if o.Result != Fail {
		t.Errorf("with LookupLimit 11: %s (%v), want fail", o.Result, o.Err)
	}
	o = check(t, checker(srv, Options{LookupLimit: -1}), "192.0.2.200", "client.test", "a@mxs.example.test")
	if o.Result != PermError {
		t.Errorf("with no lookups allowed: %s, want permerror", o.Result)
	}
}

func TestVoidLookupLimit(t *testing.T) {
	srv := world(t)
	o := check(t, checker(srv, Options{}), "192.0.2.99", "client.test", "a@void.example.test")
	if o.Result != PermError || !errors.Is(o.Err, ErrVoidLookupLimit) {
		t.Fatalf("3 void lookups: %s (%v), want permerror for the void limit", o.Result, o.Err)
	}
	o = check(t, checker(srv, Options{VoidLookupLimit: 3}), "192.0.2.99", "client.test", "a@void.example.test")
	if o.Result != Fail {
		t.Errorf("with VoidLookupLimit 3: %s (%v), want fail", o.Result, o.Err)
	}
	o = check(t, checker(srv, Options{VoidLookupLimit: -1}), "192.0.2.99", "client.test", "a@void.example.test")
	if o.Result != PermError || !errors.Is(o.Err, ErrVoidLookupLimit) {
		t.Errorf("with no void lookups allowed: %s (%v)", o.Result, o.Err)
	}
}

func TestTempErrorServFail(t *testing.T) {
	srv := world(t)
	srv.SetMode("broken.test", dnstest.ServFail(2, "Not Ready"))
	c := checker(srv, Options{})
	for _, sender := range []string{"a@broken.test", "a@tempinc.example.test"} {
		o := check(t, c, "127.0.0.1", "client.test", sender)
		if o.Result != TempError || o.problem != "DNS server failure" {
			t.Errorf("%s: %s, problem %q (%v), want temperror", sender, o.Result, o.problem, o.Err)
		}
	}
	srv.SetMode("broken.test", dnstest.Normal())
	if o := check(t, c, "127.0.0.1", "client.test", "a@broken.test"); o.Result != Pass {
		t.Errorf("after Normal: %s (%v)", o.Result, o.Err)
	}
}

func TestTempErrorDrop(t *testing.T) {
	srv := world(t)
	srv.SetMode("slow.test", dnstest.Drop())

	// The checker's own time limit.
	c := checker(srv, Options{Timeout: 300 * time.Millisecond})
	start := time.Now()
	o := check(t, c, "127.0.0.1", "client.test", "a@slow.test")
	if o.Result != TempError || !errors.Is(o.Err, context.DeadlineExceeded) {
		t.Errorf("dropped: %s (%v), want temperror past the deadline", o.Result, o.Err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("check took %v with a 300ms limit", d)
	}
	if !strings.Contains(o.Received, `problem="check timed out";`) {
		t.Errorf("Received-SPF: %s", o.Received)
	}

	// The caller's deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	o = checker(srv, Options{}).CheckMailFrom(ctx, addr("127.0.0.1"), "client.test", "a@slow.test")
	if o.Result != TempError {
		t.Errorf("caller deadline: %s (%v), want temperror", o.Result, o.Err)
	}
}

func TestHELOIdentity(t *testing.T) {
	srv := world(t)
	c := checker(srv, Options{})
	ctx := context.Background()

	o := c.CheckHELO(ctx, addr("192.0.2.10"), "mail.example.test")
	if o.Result != Pass || o.Identity != HELO || o.Domain != "mail.example.test" {
		t.Fatalf("HELO pass: %+v", o)
	}
	if !strings.Contains(o.Received, "identity=helo;") || strings.Contains(o.Received, "envelope-from") {
		t.Errorf("HELO Received-SPF: %s", o.Received)
	}
	if r := o.AuthResult(); r.Helo != "mail.example.test" || r.From != "" {
		t.Errorf("HELO authres: %+v", r)
	}
	if o := c.CheckHELO(ctx, addr("192.0.2.11"), "mail.example.test"); o.Result != Fail {
		t.Errorf("HELO fail: %s", o.Result)
	}
	// RFC 7208 section 4.3: no usable domain, no lookup.
	srv.ResetQueries()
	for _, helo := range []string{"[192.0.2.10]", "192.0.2.10", "localhost", "", "a..example.test", strings.Repeat("x", 64) + ".test"} {
		o := c.CheckHELO(ctx, addr("192.0.2.10"), helo)
		if o.Result != None || !errors.Is(o.Err, ErrInvalidDomain) {
			t.Errorf("HELO %q: %s (%v), want none", helo, o.Result, o.Err)
		}
	}
	if q := srv.Queries(); len(q) != 0 {
		t.Errorf("queries for unusable names: %v", q)
	}
}

func TestNullSender(t *testing.T) {
	srv := world(t)
	c := checker(srv, Options{})
	// RFC 7208 section 2.4: the null reverse-path is postmaster@HELO.
	o := check(t, c, "192.0.2.10", "mail.example.test", "")
	if o.Result != Pass || o.Identity != MailFrom || o.Domain != "mail.example.test" {
		t.Fatalf("null sender: %s identity %s domain %s", o.Result, o.Identity, o.Domain)
	}
	if !strings.Contains(o.HeaderComment, "domain of postmaster@mail.example.test designates 192.0.2.10") {
		t.Errorf("comment: %s", o.HeaderComment)
	}
	if r := o.AuthResult(); r.From != "postmaster@mail.example.test" {
		t.Errorf("authres smtp.mailfrom %q", r.From)
	}
	if strings.Contains(o.Received, "envelope-from") {
		t.Errorf("null sender has an envelope-from: %s", o.Received)
	}
	if o := check(t, c, "192.0.2.11", "mail.example.test", ""); o.Result != Fail {
		t.Errorf("null sender from elsewhere: %s", o.Result)
	}
	// A sender without a domain is checked the same way.
	if o := check(t, c, "192.0.2.10", "mail.example.test", "postmaster"); o.Result != Pass || o.Domain != "mail.example.test" {
		t.Errorf("sender without domain: %s %s", o.Result, o.Domain)
	}
}

func TestBestGuess(t *testing.T) {
	srv := world(t)
	c := checker(srv, Options{Guess: true})
	tests := []struct {
		ip, sender string
		want       Result
		mechanism  string
	}{
		{"192.0.2.99", "a@guess.test", Pass, "a/24"},     // 192.0.2.50/24
		{"198.51.100.9", "a@guess.test", Pass, "mx/24"},  // mx 198.51.100.60/24
		{"203.0.113.5", "a@guess.test", Neutral, "?all"}, // no PTR either
	}
	for _, tt := range tests {
		o := check(t, c, tt.ip, "client.test", tt.sender)
		if o.Result != tt.want || !o.Guessed || o.Mechanism != tt.mechanism {
			t.Errorf("%s from %s: %s guessed %v mechanism %q (%v)", tt.sender, tt.ip, o.Result, o.Guessed, o.Mechanism, o.Err)
			continue
		}
		if !strings.HasPrefix(o.Received, "X-SPF-Guess: "+string(tt.want)+" ") {
			t.Errorf("header: %s", o.Received)
		}
		if !strings.Contains(o.HeaderComment, "best guess record for domain of "+tt.sender) {
			t.Errorf("comment: %s", o.HeaderComment)
		}
		if r := o.AuthResult(); r.Value != "none" || r.Reason != "best guess "+string(tt.want) {
			t.Errorf("authres of a guess: %+v", r)
		}
	}

	// A domain that does not exist has no record either; the guess then
	// makes three void lookups (a, mx, ptr), one too many.
	o := check(t, c, "203.0.113.5", "client.test", "a@nx.guess.test")
	if o.Result != PermError || !o.Guessed || !errors.Is(o.Err, ErrVoidLookupLimit) {
		t.Errorf("guess for NXDOMAIN: %s guessed %v (%v)", o.Result, o.Guessed, o.Err)
	}

	// ptr: 203.0.113.7 has a PTR to host.guess.test, which resolves back.
	o = check(t, c, "203.0.113.7", "client.test", "a@guess.test")
	if o.Result != Pass || !o.Guessed || o.Mechanism != "ptr" {
		t.Errorf("guess from 203.0.113.7: %s mechanism %q (%v)", o.Result, o.Mechanism, o.Err)
	}
	// A custom record.
	o = check(t, checker(srv, Options{Guess: true, GuessRecord: "v=spf1 -all"}), "192.0.2.50", "client.test", "a@guess.test")
	if o.Result != Fail || !o.Guessed || o.Explanation != "" {
		t.Errorf("custom guess: %s guessed %v", o.Result, o.Guessed)
	}
	// A published record wins; errors are not guessed over.
	for _, sender := range []string{"a@example.test", "a@two.example.test"} {
		if o := check(t, c, "192.0.2.99", "client.test", sender); o.Guessed {
			t.Errorf("%s guessed: %s", sender, o.Result)
		}
	}
	srv.SetMode("broken.test", dnstest.ServFail(2, ""))
	if o := check(t, c, "192.0.2.99", "client.test", "a@broken.test"); o.Guessed || o.Result != TempError {
		t.Errorf("SERVFAIL guessed: %s %v", o.Result, o.Guessed)
	}
	// Without Guess, the same domain is none.
	if o := check(t, checker(srv, Options{}), "192.0.2.99", "client.test", "a@guess.test"); o.Result != None || o.Guessed {
		t.Errorf("without Guess: %s %v", o.Result, o.Guessed)
	}
}

func TestExplanation(t *testing.T) {
	srv := world(t)
	c := checker(srv, Options{})

	o := check(t, c, "192.0.2.99", "mail.client.test", "user@explained.example.test")
	want := "192.0.2.99 may not send for explained.example.test (sender user@explained.example.test, " +
		"helo mail.client.test, client 192.0.2.99, receiver mx.example.org, at 1700000000)"
	if o.Result != Fail || o.Explanation != want {
		t.Fatalf("exp=: %s %q\nwant %q", o.Result, o.Explanation, want)
	}
	if o.SMTPComment != "explained.example.test explains: "+want {
		t.Errorf("SMTP comment: %q", o.SMTPComment)
	}

	// RFC 7208 section 6.2: after redirect=, the target's exp= is used,
	// with the target as %{d}; the redirecting record's is not.
	o = check(t, c, "192.0.2.99", "mail.client.test", "user@redir.example.test")
	if o.Result != Fail || !strings.HasPrefix(o.Explanation, "192.0.2.99 may not send for explained.example.test (sender user@redir.example.test,") {
		t.Errorf("exp= after redirect: %s %q", o.Result, o.Explanation)
	}

	// %{p}, %{V} and %{I}.
	o = check(t, c, "192.0.2.1", "mail.client.test", "user@ptr.example.test")
	if o.Explanation != "mx1.ptr.example.test at 192.0.2.1, in-addr 192.0.2.1" {
		t.Errorf("ptr explanation: %s %q", o.Result, o.Explanation)
	}

	// No usable exp=: the default template.
	for _, sender := range []string{"a@badexp.example.test", "a@twoexp.example.test", "a@example.test"} {
		o := check(t, c, "192.0.2.99", "client.test", sender)
		if o.Result != Fail || o.Explanation != "" || o.SMTPComment != "Please see http://www.open-spf.org/Why" {
			t.Errorf("%s: %s explanation %q comment %q", sender, o.Result, o.Explanation, o.SMTPComment)
		}
	}
	// Only a fail is explained.
	if o := check(t, c, "192.0.2.1", "client.test", "a@explained.example.test"); o.Explanation != "" {
		t.Errorf("pass explained: %q", o.Explanation)
	}

	// A configured template, with macros.
	c2 := checker(srv, Options{Explanation: "See https://mx.example.org/spf?d=%{d}&ip=%{C}&s=%{S}"})
	o = check(t, c2, "2001:db8::2", "client.test", "a b@example.test")
	if o.SMTPComment != "See https://mx.example.org/spf?d=example.test&ip=2001%3Adb8%3A%3A2&s=a%20b%40example.test" {
		t.Errorf("template: %q", o.SMTPComment)
	}
	// errors are described, not explained
	o = check(t, c2, "192.0.2.99", "client.test", "a@perm.example.test")
	if o.SMTPComment != o.HeaderComment || !strings.Contains(o.SMTPComment, "syntax error in SPF record") {
		t.Errorf("permerror comment: %q", o.SMTPComment)
	}
}

func TestLookup(t *testing.T) {
	srv := world(t)
	c := checker(srv, Options{})
	ctx := context.Background()
	for _, tt := range []struct {
		key, ip string
		want    Result
	}{
		{"user@example.test", "192.0.2.1", Pass},
		{"user@example.test", "192.0.2.2", Fail},
		{"example.test", "192.0.2.1", Pass},
		{"user@example.test", "2001:db8::1", Pass},
		{"user@example.test", "[2001:db8::2]", Fail},
		{"user@soft.example.test", "192.0.2.2", SoftFail},
	} {
		got, err := c.Lookup(ctx, tt.key, tt.ip)
		if err != nil || got != tt.want {
			t.Errorf("lookup {%s} spf {%s} = %s, %v; want %s", tt.key, tt.ip, got, err, tt.want)
		}
	}
	if _, err := c.Lookup(ctx, "user@example.test", "192.0.2"); !errors.Is(err, ErrInvalidIP) {
		t.Errorf("bad IP: %v", err)
	}
}

func TestInvalidIP(t *testing.T) {
	c := New(nil)
	o := c.CheckMailFrom(context.Background(), netip.Addr{}, "client.test", "a@example.test")
	if o.Result != PermError || !errors.Is(o.Err, ErrInvalidIP) {
		t.Errorf("zero IP: %s %v", o.Result, o.Err)
	}
}

func TestQueriesAreQualified(t *testing.T) {
	srv := world(t)
	c := checker(srv, Options{})
	srv.ResetQueries()
	check(t, c, "192.0.2.200", "client.test", "a@mxs.example.test")
	var got []string
	for _, q := range srv.Queries() {
		got = append(got, q.Name+" "+dns.TypeToString[q.Type])
	}
	// One TXT query (the record is not fetched twice), then the MX and
	// the MX host's A records, not AAAA for an IPv4 client (RFC 7208
	// section 5.4); no search-list suffixes.
	slices.Sort(got)
	got = slices.Compact(got)
	want := []string{"mx.example.test. A", "mxs.example.test. MX", "mxs.example.test. TXT"}
	if !slices.Equal(got, want) {
		t.Errorf("queries %v, want %v", got, want)
	}
	n := 0
	for _, q := range srv.Queries() {
		if q.Type == dns.TypeTXT {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d TXT queries, want 1", n)
	}
}
