package spf_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/spf"
)

func Example() {
	// A DNS world; in tests, dnstest.Start(t, ...) does this and the
	// cleanup. In an MTA, leave Options.Resolver nil or give a
	// *net.Resolver.
	srv, err := dnstest.New(dnstest.Zone{Name: "example.com", Text: `
		@        TXT  "v=spf1 ip4:192.0.2.0/24 exp=why._spf.%{d} -all"
		why._spf TXT  "%{i} is not one of %{d}'s mail servers"
	`})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	c := spf.New(&spf.Options{Resolver: srv.Resolver(), Receiver: "mx.example.org"})
	ctx := context.Background()

	o := c.CheckMailFrom(ctx, netip.MustParseAddr("192.0.2.25"), "mail.example.com", "alice@example.com")
	fmt.Println(o.Result, o.Mechanism)
	// Received is folded; unfolded here to print on one line.
	fmt.Println(strings.ReplaceAll(o.Received, "\r\n\t", " "))

	o = c.CheckMailFrom(ctx, netip.MustParseAddr("2001:db8::25"), "mail.example.net", "alice@example.com")
	fmt.Println(o.Result, o.Mechanism)
	fmt.Println(o.SMTPComment)

	// Exim: ${lookup {alice@example.com} spf {198.51.100.1}}
	word, _ := c.Lookup(ctx, "alice@example.com", "198.51.100.1")
	fmt.Println(word)

	// Exim: deny spf = fail : softfail
	reject := spf.MustParseCondition("fail : softfail")
	fmt.Println(reject.Match(o.Result))
	// Output:
	// pass ip4:192.0.2.0/24
	// Received-SPF: pass (mx.example.org: domain of alice@example.com designates 192.0.2.25 as permitted sender) client-ip=192.0.2.25; envelope-from="alice@example.com"; helo=mail.example.com; receiver=mx.example.org; identity=mailfrom; mechanism="ip4:192.0.2.0/24";
	// fail -all
	// example.com explains: 2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.5 is not one of example.com's mail servers
	// fail
	// true
}
