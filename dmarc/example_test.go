package dmarc_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/emersion/go-msgauth/authres"
	"github.com/smtpkit/smtpkit/dmarc"
)

// A message claiming to be from example.com, whose record says
// p=reject, arrives from a host its SPF record does not list, unsigned.
func Example() {
	// The DNS, here from a map. In an MTA, leave Options.Resolver nil or
	// give a *net.Resolver.
	dns := txtResolver{
		"_dmarc.example.com.": {"v=DMARC1; p=reject; rua=mailto:dmarc@example.com"},
	}

	e := dmarc.New(&dmarc.Options{Resolver: dns})
	in := &dmarc.Input{
		IP:       netip.MustParseAddr("198.51.100.7"),
		HELO:     "mail.example.net",
		MailFrom: "joe@example.com",
		// As the spf package's Outcome.AuthResult gives it.
		SPF: &authres.SPFResult{Value: authres.ResultFail, From: "joe@example.com", Helo: "mail.example.net"},
	}
	msg := "From: Joe <joe@example.com>\r\nTo: ann@example.org\r\nSubject: hi\r\n\r\nHello.\r\n"
	r, err := e.Evaluate(context.Background(), in, strings.NewReader(msg))
	if err != nil {
		panic(err)
	}
	fmt.Println("$dmarc_status:", r.Status)
	fmt.Println("$dmarc_status_text:", r.StatusText)
	fmt.Println("$dmarc_used_domain:", r.UsedDomain)
	fmt.Println("$dmarc_domain_policy:", r.DomainPolicy)
	h := dmarc.FormatAuthResults("mx.example.org", append([]authres.Result{in.SPF}, r.AuthResults()...))
	fmt.Print(strings.ReplaceAll(h, "\r\n", "\n"))
	// Output:
	// $dmarc_status: reject
	// $dmarc_status_text: DMARC fail for example.com: no aligned SPF or DKIM pass; policy reject
	// $dmarc_used_domain: example.com
	// $dmarc_domain_policy: reject
	// Authentication-Results: mx.example.org;
	// 	spf=fail smtp.helo=mail.example.net smtp.mailfrom=joe@example.com;
	// 	dmarc=fail header.from=example.com policy.dmarc=reject
}

// txtResolver is a dmarc.Resolver that answers TXT queries from a map of
// fully qualified names, and every other query with "no such host".
type txtResolver map[string][]string

func (r txtResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	if txt, ok := r[name]; ok {
		return txt, nil
	}
	return nil, notFound(name)
}

func (txtResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	return nil, notFound(host)
}

func (txtResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	return nil, notFound(name)
}

// notFound is the error a *net.Resolver returns for NXDOMAIN.
func notFound(name string) error {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}
