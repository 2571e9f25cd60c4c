package dnstest_test

import (
	"context"
	"fmt"

	"github.com/smtpkit/smtpkit/internal/dnstest"
)

func Example() {
	// In a test, dnstest.Start(t, zones...) does this and the cleanup.
	srv, err := dnstest.New(dnstest.Zone{Name: "example.test", Secure: true, Text: `
		@       MX   10 mx
		mx      A    192.0.2.25
		@       TXT  "v=spf1 ip4:192.0.2.25 -all"
		_dmarc  TXT  "v=DMARC1; p=reject"
	`})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	ctx := context.Background()
	r := srv.Resolver()
	mxs, err := r.LookupMX(ctx, "example.test.")
	if err != nil {
		fmt.Println(err)
		return
	}
	ips, err := r.LookupIPAddr(ctx, mxs[0].Host)
	if err != nil {
		fmt.Println(err)
		return
	}
	srv.ResetQueries()
	txts, err := r.LookupTXT(ctx, "_dmarc.example.test.")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(mxs[0].Pref, mxs[0].Host, ips[0].IP)
	fmt.Println(txts[0])
	fmt.Println(srv.Queries())
	// Output:
	// 10 mx.example.test. 192.0.2.25
	// v=DMARC1; p=reject
	// [_dmarc.example.test. TXT udp]
}
