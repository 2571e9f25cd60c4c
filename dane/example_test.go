package dane_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/smtpkit/smtpkit/dane"
	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/internal/pkitest"
)

func ExampleParseRecord() {
	r, err := dane.ParseRecord("3 1 1 8755CDAA8FE24EF16CC0F2C918063185E433FAAF1415664911D9E30A924138C4")
	if err != nil {
		panic(err)
	}
	fmt.Println(r)
	fmt.Println(len(dane.Usable([]dane.Record{r})), dane.UsageBits([]dane.Record{r}))
	// Output:
	// 3 1 1 8755cdaa8fe24ef16cc0f2c918063185e433faaf1415664911d9e30a924138c4
	// 1 8
}

func ExampleLookup() {
	// The server's certificate, and its "3 1 1" record in a signed zone
	// served by a validating resolver on loopback.
	cert := pkitest.SelfSigned(nil, pkitest.Leaf{Names: []string{"mx.example.test"}})
	rec, _ := dane.NewRecord(cert.Certificate, dane.DANEEE, dane.SelectorSPKI, dane.MatchSHA256)
	dns, err := dnstest.New(dnstest.Zone{Name: "example.test", Secure: true, Text: `
		@           MX   10 mx
		mx          A    192.0.2.25
		_25._tcp.mx TLSA ` + rec.String()})
	if err != nil {
		panic(err)
	}
	defer dns.Close()
	res := &dane.Resolver{Addr: dns.Addr()}

	ctx := context.Background()
	mx, _ := res.LookupMX(ctx, "example.test")
	p, err := dane.Lookup(ctx, dane.Destination{Host: mx.Hosts[0].Host, NextHop: "example.test", MXInsecure: !mx.Secure},
		&dane.Options{Mode: dane.Require, Resolver: res})
	if err != nil {
		panic(err) // defer, or try the next MX
	}
	fmt.Println(p.Action, p.TLSRequired(), p.BaseDomain, p.Addrs)

	// p.TLSConfig goes into client.Options.TLSConfig; here a bare
	// handshake shows what its VerifyConnection decides.
	err = handshake(cert.TLS(), p.TLSConfig(nil))
	r := p.Result()
	fmt.Println(err, r.CV, r.Verified, r.Usages, r.Matched.String() == rec.String())
	// Output:
	// dane true mx.example.test [192.0.2.25]
	// <nil> dane true 8 true
}

// handshake runs a TLS handshake on loopback.
func handshake(cert tls.Certificate, cfg *tls.Config) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		s := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		_ = s.Handshake()
		s.Close()
	}()
	c, err := tls.Dial("tcp", l.Addr().String(), cfg)
	if err != nil {
		return err
	}
	return c.Close()
}
