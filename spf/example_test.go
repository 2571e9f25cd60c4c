package spf_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/smtpkit/smtpkit/spf"
)

func Example() {
	// The DNS, here from a map. In an MTA, leave Options.Resolver nil or
	// give a *net.Resolver.
	dns := txtResolver{
		"example.com.":          {"v=spf1 ip4:192.0.2.0/24 exp=why._spf.%{d} -all"},
		"why._spf.example.com.": {"%{i} is not one of %{d}'s mail servers"},
	}

	c := spf.New(&spf.Options{Resolver: dns, Receiver: "mx.example.org"})
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

// txtResolver is an spf.Resolver that answers TXT queries from a map of
// fully qualified names, and every other query with "no such host".
type txtResolver map[string][]string

func (r txtResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	if txt, ok := r[name]; ok {
		return txt, nil
	}
	return nil, notFound(name)
}

func (txtResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	return nil, notFound(name)
}

func (txtResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	return nil, notFound(host)
}

func (txtResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	return nil, notFound(addr)
}

// notFound is the error a *net.Resolver returns for NXDOMAIN.
func notFound(name string) error {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}
