package dmarc_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/emersion/go-msgauth/authres"
	"github.com/smtpkit/smtpkit/dmarc"
	"github.com/smtpkit/smtpkit/internal/dnstest"
)

// A message claiming to be from example.com, whose record says
// p=reject, arrives from a host its SPF record does not list, unsigned.
func Example() {
	srv, err := dnstest.New(dnstest.Zone{Name: "example.com", Text: `
		_dmarc  TXT  "v=DMARC1; p=reject; rua=mailto:dmarc@example.com"
	`})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	e := dmarc.New(&dmarc.Options{Resolver: srv.Resolver()})
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
