package dane_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/smtpkit/smtpkit/dane"
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
	// served by a validating resolver on loopback. In an MTA, the
	// Resolver is unbound on 127.0.0.1:53.
	cert, err := selfSigned("mx.example.test")
	if err != nil {
		panic(err)
	}
	rec, _ := dane.NewRecord(cert.Leaf, dane.DANEEE, dane.SelectorSPKI, dane.MatchSHA256)
	addr, stop, err := validatingResolver(
		"example.test. MX 10 mx.example.test.",
		"mx.example.test. A 192.0.2.25",
		"_25._tcp.mx.example.test. TLSA "+rec.String())
	if err != nil {
		panic(err)
	}
	defer stop()
	res := &dane.Resolver{Addr: addr}

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
	err = handshake(cert, p.TLSConfig(nil))
	r := p.Result()
	fmt.Println(err, r.CV, r.Verified, r.Usages, r.Matched.String() == rec.String())
	// Output:
	// dane true mx.example.test [192.0.2.25]
	// <nil> dane true 8 true
}

// validatingResolver serves records on loopback with the AD bit set, as
// a validating resolver does for a signed zone.
func validatingResolver(records ...string) (addr string, stop func() error, err error) {
	var rrs []dns.RR
	for _, s := range records {
		rr, err := dns.NewRR(s)
		if err != nil {
			return "", nil, err
		}
		rrs = append(rrs, rr)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg).SetReply(req)
		m.AuthenticatedData = true
		for _, rr := range rrs {
			q := req.Question[0]
			if strings.EqualFold(rr.Header().Name, q.Name) && rr.Header().Rrtype == q.Qtype {
				m.Answer = append(m.Answer, rr)
			}
		}
		_ = w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	return pc.LocalAddr().String(), srv.Shutdown, nil
}

// selfSigned makes a self-signed certificate for name.
func selfSigned(name string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, err
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
