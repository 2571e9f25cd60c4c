package dmarc

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/smtpkit/smtpkit/internal/dnstest"
)

// fixedNow is the time of every test evaluation.
var fixedNow = time.Unix(1700000000, 0)

// testKey is the Ed25519 key (RFC 8463) of every DKIM selector "sel" in
// the test world.
var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

// dkimKeyRecord is the key record of testKey.
func dkimKeyRecord() string {
	return `"v=DKIM1; k=ed25519; p=` + base64.StdEncoding.EncodeToString(testKey.Public().(ed25519.PublicKey)) + `"`
}

// clientIP is the client of most tests: the address example.com's SPF
// record allows.
var clientIP = netip.MustParseAddr("192.0.2.1")

// world starts the DNS world of the tests. The names are those of RFC
// 7489's examples; the resolver of the tests asks nothing else.
func world(t testing.TB) *dnstest.Server {
	t.Helper()
	key := dkimKeyRecord()
	return dnstest.Start(t,
		dnstest.Zone{Name: "example.com", Text: `
			@                   TXT  "v=spf1 ip4:192.0.2.1 -all"
			@                   A    192.0.2.80
			_dmarc              TXT  "v=DMARC1; p=reject; sp=quarantine; rua=mailto:dmarc-feedback@example.com; ruf=mailto:auth-reports@example.com"
			_dmarc              TXT  "some other TXT record at _dmarc"
			sel._domainkey      TXT  ` + key + `
			news                A    192.0.2.81
			sel._domainkey.news TXT  ` + key + `
			_dmarc.none         TXT  "v=DMARC1; p=none"
			_dmarc.pct          TXT  "v=DMARC1; p=reject; pct=50"
			_dmarc.pct0         TXT  "v=DMARC1; p=quarantine; pct=0"
			_dmarc.strict       TXT  "v=DMARC1; p=reject; adkim=s; aspf=s"
			_dmarc.two          TXT  "v=DMARC1; p=reject"
			_dmarc.two          TXT  "v=DMARC1; p=none"
			_dmarc.bad          TXT  "v=DMARC1; p=bogus"
			_dmarc.badrua       TXT  "v=DMARC1; p=bogus; rua=mailto:dmarc-feedback@example.com"
			_dmarc.testing      TXT  "v=DMARC1; p=reject; t=y"
		`},
		dnstest.Zone{Name: "example.org", Text: `
			_dmarc              TXT  "v=DMARC1; p=none; rua=mailto:dmarc@example.org"
			sel._domainkey      TXT  ` + key + `
		`},
		dnstest.Zone{Name: "example.net", Text: `
			@                   TXT  "v=spf1 -all"
			sel._domainkey      TXT  ` + key + `
		`},
		dnstest.Zone{Name: "example.co.uk", Text: `
			_dmarc              TXT  "v=DMARC1; p=reject"
			sel._domainkey      TXT  ` + key + `
		`},
		dnstest.Zone{Name: "broken.example", Text: `
			_dmarc              TXT  "v=DMARC1; p=reject"
		`},
		dnstest.Zone{Name: "keyfail.example.com", Text: `
			sel._domainkey      TXT  ` + key + `
		`},
	)
}

// evaluator returns an Evaluator on srv with a seeded sampler and the
// fixed clock; opts may set more.
func evaluator(srv *dnstest.Server, opts *Options) *Evaluator {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Resolver = srv.Resolver()
	if o.Rand == nil {
		o.Rand = rand.NewPCG(1, 2)
	}
	o.Now = func() time.Time { return fixedNow }
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	return New(&o)
}

// message builds a message with the given header fields (full lines
// without CRLF) and a short body.
func message(fields ...string) string {
	var b strings.Builder
	for _, f := range fields {
		b.WriteString(f + "\r\n")
	}
	b.WriteString("Subject: test\r\nMessage-ID: <1@example.com>\r\n\r\nHello.\r\n")
	return b.String()
}

// sign adds a DKIM-Signature by domain with selector "sel" and testKey.
func sign(t testing.TB, msg, domain string) string {
	t.Helper()
	var b bytes.Buffer
	err := dkim.Sign(&b, strings.NewReader(msg), &dkim.SignOptions{Domain: domain, Selector: "sel", Signer: testKey})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// spfPass is an SPF pass for the MAIL FROM address.
func spfResult(v authres.ResultValue, mailFrom string) *authres.SPFResult {
	return &authres.SPFResult{Value: v, From: mailFrom, Helo: "mail.example.com"}
}

// eval evaluates msg from clientIP with MAIL FROM mailFrom and the given
// SPF result.
func eval(t testing.TB, e *Evaluator, mailFrom string, spf *authres.SPFResult, msg string) *Result {
	t.Helper()
	in := &Input{IP: clientIP, HELO: "mail.example.com", MailFrom: mailFrom, SPF: spf}
	r, err := e.Evaluate(context.Background(), in, strings.NewReader(msg))
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	return r
}

func show(r *Result) string {
	return fmt.Sprintf("%s (%s) used=%s policy=%s dis=%s spf=%v dkim=%v err=%v",
		r.Status, r.StatusText, r.UsedDomain, r.DomainPolicy, r.Disposition, r.SPFAligned, r.DKIMAligned, r.Err)
}
