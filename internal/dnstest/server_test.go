package dnstest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/smtpkit/smtpkit/internal/dnstest"
)

const exampleText = `
	@            MX    10 mx
	mx           A     192.0.2.25
	mx           AAAA  2001:db8::25
	@            TXT   "v=spf1 ip4:192.0.2.25 -all"
	_dmarc       TXT   "v=DMARC1; p=reject"
	_25._tcp.mx  TLSA  3 1 1 8755cdaa8fe24ef16cc0f2c918063185e433faaf1415664911d9e30a924138c4
	www          CNAME mx
	alias        CNAME www
	ext          CNAME host.other.test.
	gone         CNAME nowhere
	outside      CNAME host.nowhere.invalid.
	loop1        CNAME loop2
	loop2        CNAME loop1
	*.wild       TXT   "wildcard"
	*.wildcname  CNAME mx
	ttl   3600   TXT   "long-lived"
`

// world starts a server with a secure example.test, an insecure
// other.test and a reverse zone for 192.0.2.0/24.
func world(t testing.TB) *dnstest.Server {
	t.Helper()
	return dnstest.Start(t,
		dnstest.Zone{Name: "example.test", Secure: true, Text: exampleText},
		dnstest.Zone{Name: "other.test.", Text: `host A 192.0.2.80`},
		dnstest.Zone{Name: "2.0.192.in-addr.arpa", Secure: true, Text: `25 PTR mx.example.test.`},
	)
}

// query sends one question with a miekg client; edns is the advertised
// UDP size, 0 for no OPT record.
func query(t testing.TB, srv *dnstest.Server, network, name string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	r, err := tryQuery(srv, network, name, qtype, edns, 2*time.Second)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return r
}

func tryQuery(srv *dnstest.Server, network, name string, qtype uint16, edns uint16, timeout time.Duration) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: timeout}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edns > 0 {
		m.SetEdns0(edns, true)
	}
	r, _, err := c.Exchange(m, srv.Addr())
	return r, err
}

func types(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, dns.TypeToString[rr.Header().Rrtype])
	}
	return out
}

func TestResolver(t *testing.T) {
	srv := world(t)
	r := srv.Resolver()
	ctx := context.Background()

	txts, err := r.LookupTXT(ctx, "example.test.")
	if err != nil || !slices.Equal(txts, []string{"v=spf1 ip4:192.0.2.25 -all"}) {
		t.Errorf("LookupTXT = %q, %v", txts, err)
	}
	mxs, err := r.LookupMX(ctx, "example.test.")
	if err != nil || len(mxs) != 1 || mxs[0].Host != "mx.example.test." || mxs[0].Pref != 10 {
		t.Errorf("LookupMX = %v, %v", mxs, err)
	}
	ips, err := r.LookupIPAddr(ctx, "mx.example.test.")
	var got []string
	for _, ip := range ips {
		got = append(got, ip.IP.String())
	}
	slices.Sort(got)
	if err != nil || !slices.Equal(got, []string{"192.0.2.25", "2001:db8::25"}) {
		t.Errorf("LookupIPAddr = %v, %v", got, err)
	}
	hosts, err := r.LookupHost(ctx, "ext.example.test.")
	if err != nil || !slices.Equal(hosts, []string{"192.0.2.80"}) {
		t.Errorf("LookupHost across zones = %v, %v", hosts, err)
	}
	// One hop: Go asks A, AAAA and CNAME at once and takes the first
	// answer's view of the canonical name, so longer chains vary.
	cname, err := r.LookupCNAME(ctx, "www.example.test.")
	if err != nil || cname != "mx.example.test." {
		t.Errorf("LookupCNAME = %q, %v", cname, err)
	}
	names, err := r.LookupAddr(ctx, "192.0.2.25")
	if err != nil || !slices.Equal(names, []string{"mx.example.test."}) {
		t.Errorf("LookupAddr = %v, %v", names, err)
	}
	for _, name := range []string{"nx.example.test.", "mx.example.test.", "host.nowhere.invalid."} {
		_, err = r.LookupTXT(ctx, name)
		var dnsErr *net.DNSError
		if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
			t.Errorf("LookupTXT(%s) error = %v, want not found", name, err)
		}
	}
}

func TestAnswers(t *testing.T) {
	srv := world(t)
	tests := []struct {
		name   string
		qtype  uint16
		rcode  int
		answer []string // types, in order
		soa    bool     // SOA in the authority section
		ad     bool
	}{
		{"example.test.", dns.TypeTXT, dns.RcodeSuccess, []string{"TXT"}, false, true},
		{"EXAMPLE.Test.", dns.TypeMX, dns.RcodeSuccess, []string{"MX"}, false, true},
		{"example.test.", dns.TypeSOA, dns.RcodeSuccess, []string{"SOA"}, false, true},
		{"example.test.", dns.TypeANY, dns.RcodeSuccess, []string{"SOA", "MX", "TXT"}, false, true},
		{"_25._tcp.mx.example.test.", dns.TypeTLSA, dns.RcodeSuccess, []string{"TLSA"}, false, true},
		// NXDOMAIN, NODATA and the empty non-terminal, all secure.
		{"nx.example.test.", dns.TypeA, dns.RcodeNameError, nil, true, true},
		{"mx.example.test.", dns.TypeTXT, dns.RcodeSuccess, nil, true, true},
		{"_tcp.mx.example.test.", dns.TypeTLSA, dns.RcodeSuccess, nil, true, true},
		{"_x._tcp.mx.example.test.", dns.TypeTLSA, dns.RcodeNameError, nil, true, true},
		// CNAME chains.
		{"alias.example.test.", dns.TypeA, dns.RcodeSuccess, []string{"CNAME", "CNAME", "A"}, false, true},
		{"alias.example.test.", dns.TypeCNAME, dns.RcodeSuccess, []string{"CNAME"}, false, true},
		{"www.example.test.", dns.TypeTXT, dns.RcodeSuccess, []string{"CNAME"}, true, true},
		{"ext.example.test.", dns.TypeA, dns.RcodeSuccess, []string{"CNAME", "A"}, false, false},
		{"gone.example.test.", dns.TypeA, dns.RcodeNameError, []string{"CNAME"}, true, true},
		{"outside.example.test.", dns.TypeA, dns.RcodeNameError, []string{"CNAME"}, false, false},
		{"loop1.example.test.", dns.TypeA, dns.RcodeServerFailure, []string{"CNAME", "CNAME"}, false, false},
		// Wildcards (RFC 4592).
		{"x.wild.example.test.", dns.TypeTXT, dns.RcodeSuccess, []string{"TXT"}, false, true},
		{"a.b.wild.example.test.", dns.TypeTXT, dns.RcodeSuccess, []string{"TXT"}, false, true},
		{"x.wild.example.test.", dns.TypeA, dns.RcodeSuccess, nil, true, true},
		{"wild.example.test.", dns.TypeTXT, dns.RcodeSuccess, nil, true, true},
		{"x.wildcname.example.test.", dns.TypeA, dns.RcodeSuccess, []string{"CNAME", "A"}, false, true},
		// Insecure zone, reverse zone, no zone.
		{"host.other.test.", dns.TypeA, dns.RcodeSuccess, []string{"A"}, false, false},
		{"nx.other.test.", dns.TypeA, dns.RcodeNameError, nil, true, false},
		{"25.2.0.192.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"PTR"}, false, true},
		{"host.nowhere.invalid.", dns.TypeA, dns.RcodeNameError, nil, false, false},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			r := query(t, srv, network, tt.name, tt.qtype, 0)
			what := fmt.Sprintf("%s %s %s", network, tt.name, dns.TypeToString[tt.qtype])
			if r.Rcode != tt.rcode {
				t.Errorf("%s: rcode %s, want %s", what, dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
			}
			if got := types(r.Answer); !slices.Equal(got, tt.answer) {
				t.Errorf("%s: answer %v, want %v", what, got, tt.answer)
			}
			if got := slices.Equal(types(r.Ns), []string{"SOA"}); got != tt.soa {
				t.Errorf("%s: authority %v, want SOA %v", what, r.Ns, tt.soa)
			}
			if r.AuthenticatedData != tt.ad {
				t.Errorf("%s: AD %v, want %v", what, r.AuthenticatedData, tt.ad)
			}
			if !r.RecursionAvailable {
				t.Errorf("%s: RA not set", what)
			}
			if len(r.Extra) != 0 {
				t.Errorf("%s: extra %v for a query without OPT", what, r.Extra)
			}
		}
	}

	r := query(t, srv, "udp", "x.wild.example.test.", dns.TypeTXT, 0)
	if got := r.Answer[0].Header().Name; got != "x.wild.example.test." {
		t.Errorf("wildcard owner %q", got)
	}
}

func TestTTLAndSOA(t *testing.T) {
	srv := dnstest.Start(t,
		dnstest.Zone{Name: "example.test", Text: exampleText},
		dnstest.Zone{Name: "soa.test", Text: `
			@  3600  SOA  ns hostmaster 42 3600 600 86400 60
			a        A    192.0.2.1`},
	)
	r := query(t, srv, "udp", "_dmarc.example.test.", dns.TypeTXT, 0)
	if ttl := r.Answer[0].Header().Ttl; ttl != dnstest.DefaultTTL {
		t.Errorf("default TTL %d", ttl)
	}
	r = query(t, srv, "udp", "ttl.example.test.", dns.TypeTXT, 0)
	if ttl := r.Answer[0].Header().Ttl; ttl != 3600 {
		t.Errorf("explicit TTL %d", ttl)
	}
	r = query(t, srv, "udp", "nx.example.test.", dns.TypeTXT, 0)
	if soa := r.Ns[0].(*dns.SOA); soa.Hdr.Name != "example.test." || soa.Minttl != dnstest.DefaultTTL {
		t.Errorf("made-up SOA %v", soa)
	}
	r = query(t, srv, "udp", "nx.soa.test.", dns.TypeA, 0)
	if soa := r.Ns[0].(*dns.SOA); soa.Serial != 42 || soa.Hdr.Ttl != 60 || soa.Ns != "ns.soa.test." {
		// RFC 2308 section 3: TTL is min(SOA TTL, MINIMUM).
		t.Errorf("negative SOA %v", soa)
	}
	r = query(t, srv, "udp", "soa.test.", dns.TypeSOA, 0)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.SOA).Serial != 42 {
		t.Errorf("SOA answer %v", r.Answer)
	}
}

func TestLongestZone(t *testing.T) {
	srv := dnstest.Start(t,
		dnstest.Zone{Name: "example.test", Text: `host.sub  A  192.0.2.1`},
		dnstest.Zone{Name: "sub.example.test", Secure: true, Text: `host  A  192.0.2.2`},
	)
	r := query(t, srv, "udp", "host.sub.example.test.", dns.TypeA, 0)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.2" || !r.AuthenticatedData {
		t.Errorf("answer %v AD %v, want sub.example.test's", r.Answer, r.AuthenticatedData)
	}
	r = query(t, srv, "udp", "nx.sub.example.test.", dns.TypeA, 0)
	if r.Rcode != dns.RcodeNameError || r.Ns[0].Header().Name != "sub.example.test." {
		t.Errorf("negative answer %v", r)
	}
}

func TestEDNS(t *testing.T) {
	srv := world(t)
	for _, network := range []string{"udp", "tcp"} {
		r := query(t, srv, network, "example.test.", dns.TypeTXT, 0)
		if r.IsEdns0() != nil {
			t.Errorf("%s: OPT in reply to a query without", network)
		}
		r = query(t, srv, network, "example.test.", dns.TypeTXT, 3000)
		opt := r.IsEdns0()
		if opt == nil || opt.UDPSize() != 3000 || !opt.Do() {
			t.Errorf("%s: OPT %v, want size 3000 and DO", network, opt)
		}
		c := &dns.Client{Net: network, Timeout: 2 * time.Second}
		m := new(dns.Msg).SetQuestion("nx.example.test.", dns.TypeA).SetEdns0(1232, false)
		r, _, err := c.Exchange(m, srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if opt := r.IsEdns0(); opt == nil || opt.Do() || !r.AuthenticatedData {
			t.Errorf("%s: OPT %v AD %v, want DO clear and AD", network, opt, r.AuthenticatedData)
		}
	}
}

func TestServFail(t *testing.T) {
	srv := world(t)
	if err := srv.SetMode("example.test", dnstest.ServFail(6, "DNSSEC Bogus")); err != nil {
		t.Fatal(err)
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, edns := range []uint16{0, 1232} {
			for _, name := range []string{"example.test.", "nx.example.test."} {
				r := query(t, srv, network, name, dns.TypeTXT, edns)
				if r.Rcode != dns.RcodeServerFailure || r.AuthenticatedData || len(r.Answer) != 0 {
					t.Errorf("%s %s edns %d: %v", network, name, edns, r)
				}
				opt := r.IsEdns0()
				if opt == nil {
					t.Fatalf("%s %s: no OPT", network, name)
				}
				var ede *dns.EDNS0_EDE
				for _, o := range opt.Option {
					if e, ok := o.(*dns.EDNS0_EDE); ok {
						ede = e
					}
				}
				if ede == nil || ede.InfoCode != 6 || ede.ExtraText != "DNSSEC Bogus" {
					t.Errorf("%s %s: EDE %v", network, name, ede)
				}
			}
		}
	}
	// A CNAME into the failing zone fails too.
	if err := srv.AddZone(dnstest.Zone{Name: "third.test", Text: `a CNAME mx.example.test.`}); err != nil {
		t.Fatal(err)
	}
	if r := query(t, srv, "udp", "a.third.test.", dns.TypeA, 0); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("CNAME into failing zone: %v", r)
	}
	// Other zones still answer; so does this one once Normal.
	if r := query(t, srv, "udp", "host.other.test.", dns.TypeA, 0); r.Rcode != dns.RcodeSuccess {
		t.Errorf("other zone: %v", r)
	}
	_, err := srv.Resolver().LookupTXT(context.Background(), "example.test.")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || dnsErr.IsNotFound {
		t.Errorf("net.Resolver on SERVFAIL: %v", err)
	}
	srv.SetMode("example.test", dnstest.Normal())
	if r := query(t, srv, "udp", "example.test.", dns.TypeTXT, 0); r.Rcode != dns.RcodeSuccess || !r.AuthenticatedData {
		t.Errorf("after Normal: %v", r)
	}
}

func TestDrop(t *testing.T) {
	srv := world(t)
	srv.SetMode("other.test", dnstest.Drop())
	for _, network := range []string{"udp", "tcp"} {
		for _, name := range []string{"host.other.test.", "ext.example.test."} {
			_, err := tryQuery(srv, network, name, dns.TypeA, 0, 200*time.Millisecond)
			var netErr net.Error
			if !errors.As(err, &netErr) || !netErr.Timeout() {
				t.Errorf("%s %s: err %v, want timeout", network, name, err)
			}
		}
	}
	if r := query(t, srv, "udp", "example.test.", dns.TypeTXT, 0); r.Rcode != dns.RcodeSuccess {
		t.Errorf("other zone: %v", r)
	}
	srv.SetMode("other.test", dnstest.Normal())
	if r := query(t, srv, "tcp", "host.other.test.", dns.TypeA, 0); len(r.Answer) != 1 {
		t.Errorf("after Normal: %v", r)
	}
}

func TestDelay(t *testing.T) {
	srv := world(t)
	const d = 150 * time.Millisecond
	srv.SetMode("example.test", dnstest.Delay(d))
	for _, network := range []string{"udp", "tcp"} {
		start := time.Now()
		r := query(t, srv, network, "example.test.", dns.TypeTXT, 0)
		if el := time.Since(start); el < d || len(r.Answer) != 1 || !r.AuthenticatedData {
			t.Errorf("%s: after %v: %v", network, el, r)
		}
	}
	srv.SetMode("example.test", dnstest.Delay(0))
	start := time.Now()
	query(t, srv, "udp", "example.test.", dns.TypeTXT, 0)
	if el := time.Since(start); el >= d {
		t.Errorf("Delay(0) took %v", el)
	}
}

func TestCloseCutsDelay(t *testing.T) {
	srv, err := dnstest.New(dnstest.Zone{Name: "example.test", Text: exampleText})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetMode("example.test", dnstest.Delay(time.Minute))
	done := make(chan error, 1)
	go func() {
		_, err := tryQuery(srv, "udp", "example.test.", dns.TypeTXT, 0, 300*time.Millisecond)
		done <- err
	}()
	for len(srv.Queries()) == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("Close took %v", el)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := <-done; err == nil {
		t.Error("delayed query answered after Close")
	}
}

func TestTruncation(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 250) // 4000 bytes
	// DKIM keys: base64 of a 2048-bit RSA key is 392 bytes, of a
	// 4096-bit one 736.
	b64 := strings.Repeat("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A", 30)
	key2048 := "v=DKIM1; k=rsa; p=" + b64[:392]
	key4096 := "v=DKIM1; k=rsa; p=" + b64[:736]
	srv := dnstest.Start(t, dnstest.Zone{Name: "example.test", Text: `
		big               TXT "` + big + `"
		k2048._domainkey  TXT "` + key2048 + `"
		k4096._domainkey  TXT "` + key4096 + `"`})
	want := map[string]string{
		"big.example.test.":              big,
		"k2048._domainkey.example.test.": key2048,
		"k4096._domainkey.example.test.": key4096,
	}

	for name, txt := range want {
		srv.ResetQueries()
		txts, err := srv.Resolver().LookupTXT(context.Background(), name)
		if err != nil || len(txts) != 1 || txts[0] != txt {
			t.Errorf("LookupTXT(%s) = %d records, %v", name, len(txts), err)
		}
		if name == "big.example.test." {
			// Go advertises 1232 bytes: UDP, truncated, then TCP.
			var nets []string
			for _, q := range srv.Queries() {
				nets = append(nets, q.Net)
			}
			if !slices.Equal(nets, []string{"udp", "tcp"}) {
				t.Errorf("queries %v, want udp then tcp", srv.Queries())
			}
		}
	}

	tests := []struct {
		name      string
		network   string
		edns      uint16
		truncated bool
	}{
		{"k2048._domainkey.example.test.", "udp", 0, false},
		{"k4096._domainkey.example.test.", "udp", 0, true},
		{"k4096._domainkey.example.test.", "udp", 1232, false},
		{"k4096._domainkey.example.test.", "tcp", 0, false},
		{"big.example.test.", "udp", 0, true},
		{"big.example.test.", "udp", 1232, true},
		{"big.example.test.", "udp", 8192, false},
		{"big.example.test.", "tcp", 0, false},
		{"big.example.test.", "tcp", 1232, false},
	}
	for _, tt := range tests {
		r := query(t, srv, tt.network, tt.name, dns.TypeTXT, tt.edns)
		what := fmt.Sprintf("%s %s edns %d", tt.network, tt.name, tt.edns)
		if r.Truncated != tt.truncated {
			t.Errorf("%s: TC %v", what, r.Truncated)
		}
		if tt.truncated {
			if len(r.Answer) != 0 {
				t.Errorf("%s: truncated with %d answers", what, len(r.Answer))
			}
			continue
		}
		if len(r.Answer) != 1 || strings.Join(r.Answer[0].(*dns.TXT).Txt, "") != want[tt.name] {
			t.Errorf("%s: answer %v", what, types(r.Answer))
		}
	}
}

func TestQueryLog(t *testing.T) {
	srv := world(t)
	query(t, srv, "udp", "example.test.", dns.TypeTXT, 0)
	query(t, srv, "tcp", "_dmarc.Example.test.", dns.TypeTXT, 0)
	query(t, srv, "udp", "nowhere.invalid.", dns.TypeMX, 0)
	want := []dnstest.Query{
		{Name: "example.test.", Type: dns.TypeTXT, Net: "udp"},
		{Name: "_dmarc.Example.test.", Type: dns.TypeTXT, Net: "tcp"},
		{Name: "nowhere.invalid.", Type: dns.TypeMX, Net: "udp"},
	}
	if got := srv.Queries(); !slices.Equal(got, want) {
		t.Errorf("Queries() = %v, want %v", got, want)
	}
	if s := want[0].String(); s != "example.test. TXT udp" {
		t.Errorf("String() = %q", s)
	}
	srv.ResetQueries()
	if got := srv.Queries(); len(got) != 0 {
		t.Errorf("after reset: %v", got)
	}
	// Dropped queries are logged too.
	srv.SetMode("example.test", dnstest.Drop())
	tryQuery(srv, "udp", "example.test.", dns.TypeA, 0, 50*time.Millisecond)
	if got := len(srv.Queries()); got != 1 {
		t.Errorf("%d queries logged for a dropped one", got)
	}
}

func TestSetMode(t *testing.T) {
	srv := world(t)
	ad := func() bool {
		return query(t, srv, "udp", "nx.example.test.", dns.TypeA, 0).AuthenticatedData
	}
	if !ad() {
		t.Error("secure zone: no AD")
	}
	srv.SetMode("example.test", dnstest.Insecure())
	if ad() {
		t.Error("after Insecure: AD")
	}
	srv.SetMode("EXAMPLE.TEST.", dnstest.Secure(), dnstest.Delay(10*time.Millisecond))
	if !ad() {
		t.Error("after Secure: no AD")
	}
	// Drop then ServFail: the last one wins.
	srv.SetMode("example.test", dnstest.Drop(), dnstest.ServFail(18, "Prohibited"))
	if r := query(t, srv, "udp", "example.test.", dns.TypeA, 0); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("Drop then ServFail: %v", r)
	}

	plain, err := dnstest.New()
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.SetMode("example.test", dnstest.Secure()); err == nil {
		t.Error("SetMode of a missing zone: no error")
	}
}

func TestAddZone(t *testing.T) {
	srv := dnstest.Start(t)
	if r := query(t, srv, "udp", "a.new.test.", dns.TypeA, 0); r.Rcode != dns.RcodeNameError {
		t.Errorf("before AddZone: %v", r)
	}
	srv.AddZone(dnstest.Zone{Name: "new.test", Text: `a A 192.0.2.1`})
	if r := query(t, srv, "udp", "a.new.test.", dns.TypeA, 0); len(r.Answer) != 1 {
		t.Errorf("after AddZone: %v", r)
	}
	srv.SetMode("new.test", dnstest.Secure())
	srv.AddZone(dnstest.Zone{Name: "new.test.", Text: `b A 192.0.2.2`})
	if r := query(t, srv, "udp", "a.new.test.", dns.TypeA, 0); r.Rcode != dns.RcodeNameError || r.AuthenticatedData {
		t.Errorf("after replacing: %v", r)
	}
}

func TestZoneErrors(t *testing.T) {
	for _, z := range []dnstest.Zone{
		{Name: "example.test", Text: "\n@ MX ten mx\n"},
		{Name: "example.test", Text: "www.other.test. A 192.0.2.1"},
		{Name: "", Text: "@ A 192.0.2.1"},
		{Name: "bad..name", Text: ""},
		{Name: "example.test", Text: "$INCLUDE /etc/passwd"},
	} {
		if _, err := dnstest.New(z); err == nil {
			t.Errorf("New(%+v): no error", z)
		}
	}
	_, err := dnstest.New(dnstest.Zone{Name: "example.test", Text: "\n@ MX ten mx\n"})
	if err == nil || !strings.Contains(err.Error(), "line: 2") {
		t.Errorf("error %v does not give the line", err)
	}
}

// fakeTB records what Start and the Server report to a test.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	fatal    string
	cleanups []func()
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fatal = fmt.Sprintf(format, args...)
}

func (f *fakeTB) Errorf(format string, args ...any) { f.Fatalf(format, args...) }

func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }

func TestStartFailsTest(t *testing.T) {
	tb := &fakeTB{}
	if srv := dnstest.Start(tb, dnstest.Zone{Name: "example.test", Text: "@ A 300.0.0.1"}); srv != nil || !strings.Contains(tb.fatal, "line: 1") {
		t.Errorf("Start with a bad zone: %v, %q", srv, tb.fatal)
	}

	tb = &fakeTB{}
	srv := dnstest.Start(tb, dnstest.Zone{Name: "example.test", Text: exampleText})
	if tb.fatal != "" || len(tb.cleanups) != 1 {
		t.Fatalf("Start: %q, %d cleanups", tb.fatal, len(tb.cleanups))
	}
	if err := srv.AddZone(dnstest.Zone{Name: "x.test", Text: "@ BOGUS x"}); err == nil || tb.fatal == "" {
		t.Errorf("AddZone with a bad zone: %v, %q", err, tb.fatal)
	}
	tb.fatal = ""
	if err := srv.SetMode("x.test", dnstest.Drop()); err == nil || tb.fatal == "" {
		t.Errorf("SetMode of a missing zone: %v, %q", err, tb.fatal)
	}
	tb.fatal = ""
	query(t, srv, "udp", "example.test.", dns.TypeTXT, 0)
	tb.cleanups[0]()
	if tb.fatal != "" {
		t.Errorf("cleanup: %s", tb.fatal)
	}
	if _, err := tryQuery(srv, "tcp", "example.test.", dns.TypeTXT, 0, 200*time.Millisecond); err == nil {
		t.Error("server answers after cleanup")
	}
}

func TestConcurrent(t *testing.T) {
	srv := world(t)
	r := srv.Resolver()
	stop := make(chan struct{})
	var modes sync.WaitGroup
	modes.Add(1)
	go func() {
		defer modes.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				srv.SetMode("example.test", dnstest.Insecure())
			} else {
				srv.SetMode("example.test", dnstest.Secure())
			}
			srv.AddZone(dnstest.Zone{Name: "other.test", Text: `host A 192.0.2.80`})
			srv.Queries()
			time.Sleep(time.Millisecond)
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				switch (g + i) % 3 {
				case 0:
					txts, err := r.LookupTXT(context.Background(), "_dmarc.example.test.")
					if err != nil || len(txts) != 1 {
						errs <- fmt.Errorf("LookupTXT: %v %v", txts, err)
					}
				default:
					network := []string{"udp", "tcp"}[i%2]
					m, err := tryQuery(srv, network, "ext.example.test.", dns.TypeA, 1232, 2*time.Second)
					if err != nil || len(m.Answer) != 2 || m.AuthenticatedData {
						errs <- fmt.Errorf("%s ext: %v %v", network, m, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	modes.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(srv.Queries()); n < 160 {
		t.Errorf("%d queries logged, want at least 160", n)
	}
}

func BenchmarkExchangeUDP(b *testing.B) {
	srv := world(b)
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	m := new(dns.Msg).SetQuestion("mx.example.test.", dns.TypeA)
	for b.Loop() {
		if _, _, err := c.Exchange(m, srv.Addr()); err != nil {
			b.Fatal(err)
		}
	}
}
