package spf

import (
	"context"
	"testing"

	"github.com/smtpkit/smtpkit/internal/dnstest"
)

// BenchmarkCheckIncludeChain checks a sender whose record includes a
// record that includes another, five levels deep, the last of which
// authorizes the client: six TXT queries to the in-process DNS server
// over loopback UDP per check.
func BenchmarkCheckIncludeChain(b *testing.B) {
	srv := dnstest.Start(b, dnstest.Zone{Name: "bench.test", Text: `
		@   TXT "v=spf1 include:l1.bench.test -all"
		l1  TXT "v=spf1 ip4:198.51.100.0/24 include:l2.bench.test -all"
		l2  TXT "v=spf1 ip6:2001:db8:1::/48 include:l3.bench.test -all"
		l3  TXT "v=spf1 ip4:203.0.113.0/24 include:l4.bench.test -all"
		l4  TXT "v=spf1 include:l5.bench.test -all"
		l5  TXT "v=spf1 ip4:192.0.2.0/24 -all"
	`})
	c := New(&Options{Resolver: srv.Resolver(), Receiver: "mx.example.org"})
	ctx := context.Background()
	ip := addr("192.0.2.1")
	if o := c.CheckMailFrom(ctx, ip, "mail.bench.test", "a@bench.test"); o.Result != Pass || o.Mechanism != "include:l1.bench.test" {
		b.Fatalf("%s %q (%v)", o.Result, o.Mechanism, o.Err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if o := c.CheckMailFrom(ctx, ip, "mail.bench.test", "a@bench.test"); o.Result != Pass {
			b.Fatalf("%s (%v)", o.Result, o.Err)
		}
	}
}

// BenchmarkExpandMacros expands the RFC 7208 section 7.4 example with
// most transformers.
func BenchmarkExpandMacros(b *testing.B) {
	env := rfcEnv("2001:db8::cb01")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := expandMacros("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", env, false); err != nil {
			b.Fatal(err)
		}
	}
}
