package dane

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// rawDNS is a resolver on loopback (UDP, and TCP on the same port for
// truncated answers) whose every answer is the fuzzer's: the n-th query
// gets the n-th message of the current input, with only its ID set to
// the query's. What it served is kept for the oracle.
type rawDNS struct {
	addr string
	udp  net.PacketConn
	tcp  net.Listener

	mu      sync.Mutex
	replies [][]byte
	served  []servedReply
}

type servedReply struct {
	q    dns.Question
	resp []byte // as sent
}

func (s servedReply) String() string {
	var m dns.Msg
	if err := m.Unpack(s.resp); err != nil {
		return fmt.Sprintf("%s: %x (%v)", s.q.String(), s.resp, err)
	}
	return s.q.String() + ":\n" + m.String()
}

func startRawDNS(t testing.TB) *rawDNS {
	t.Helper()
	s := &rawDNS{}
	for range 20 {
		udp, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		tcp, err := net.Listen("tcp", udp.LocalAddr().String())
		if err != nil {
			udp.Close()
			continue
		}
		s.udp, s.tcp, s.addr = udp, tcp, udp.LocalAddr().String()
		break
	}
	if s.udp == nil {
		t.Fatal("no loopback port for UDP and TCP")
	}
	go s.serveUDP()
	go s.serveTCP()
	t.Cleanup(func() { s.udp.Close(); s.tcp.Close() })
	return s
}

func (s *rawDNS) set(replies [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replies, s.served = replies, nil
}

func (s *rawDNS) log() []servedReply {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]servedReply(nil), s.served...)
}

// answer returns the reply to query q: the next message of the input,
// or, past the last one, a SERVFAIL.
func (s *rawDNS) answer(q []byte) []byte {
	var m dns.Msg
	if m.Unpack(q) != nil || len(m.Question) != 1 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var resp []byte
	if n := len(s.served); n < len(s.replies) {
		resp = bytes.Clone(s.replies[n])
		if len(resp) >= 2 {
			binary.BigEndian.PutUint16(resp, m.Id)
		}
	} else {
		r := new(dns.Msg)
		r.SetRcode(&m, dns.RcodeServerFailure)
		resp, _ = r.Pack()
	}
	s.served = append(s.served, servedReply{q: m.Question[0], resp: resp})
	return resp
}

func (s *rawDNS) serveUDP() {
	buf := make([]byte, 65535)
	for {
		n, from, err := s.udp.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp := s.answer(buf[:n]); resp != nil {
			s.udp.WriteTo(resp, from)
		}
	}
}

func (s *rawDNS) serveTCP() {
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			var l [2]byte
			if _, err := io.ReadFull(c, l[:]); err != nil {
				return
			}
			q := make([]byte, binary.BigEndian.Uint16(l[:]))
			if _, err := io.ReadFull(c, q); err != nil {
				return
			}
			resp := s.answer(q)
			c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(resp))))
			c.Write(resp)
		}()
	}
}

// split cuts the fuzzer's input into DNS messages, each preceded by its
// 16-bit length, at most 8 of them.
func split(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= 2 && len(out) < 8 {
		n := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		n = min(n, len(b))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

func join(msgs ...*dns.Msg) []byte {
	var out []byte
	for _, m := range msgs {
		b, err := m.Pack()
		if err != nil {
			panic(err)
		}
		out = binary.BigEndian.AppendUint16(out, uint16(len(b)))
		out = append(out, b...)
	}
	return out
}

// reply builds a seed: the answer to name and type with rrs, AD as ad.
func reply(name string, qtype uint16, ad bool, rrs ...string) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Response, m.RecursionAvailable, m.AuthenticatedData = true, true, ad
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			panic(err)
		}
		m.Answer = append(m.Answer, rr)
	}
	return m
}

// FuzzAnswers gives LookupMX and Lookup (Try) answers from a resolver
// that says anything: rcodes, flags, CNAME chains and loops, records of
// other names and types, truncation. The oracle: no panic, no hang; a
// result is Secure (or AddrSecure, or uses TLSA records) only when each
// answer it rests on had the AD bit; the MX hosts, addresses and TLSA
// records reported are records of the answer at the end of its CNAME
// chain from the question (RFC 1034 section 3.6.2), never those of some
// other name; no MX host is "." or empty besides a null MX.
func FuzzAnswers(f *testing.F) {
	const tlsa = "3 1 1 0000000000000000000000000000000000000000000000000000000000000000"
	f.Add(join(
		reply("example.org.", dns.TypeMX, true, "example.org. 60 IN MX 10 mx.example.org."),
		reply("mx.example.org.", dns.TypeA, true, "mx.example.org. 60 IN A 192.0.2.25"),
		reply("mx.example.org.", dns.TypeAAAA, true, "mx.example.org. 60 IN AAAA 2001:db8::25"),
		reply("_25._tcp.mx.example.org.", dns.TypeTLSA, true, "_25._tcp.mx.example.org. 60 IN TLSA "+tlsa),
	))
	f.Add(join(
		reply("example.org.", dns.TypeMX, true, "example.org. 60 IN CNAME alias.example.net.",
			"alias.example.net. 60 IN MX 0 .", "other.example. 60 IN MX 5 evil.example."),
		reply("mx.example.org.", dns.TypeA, true, "mx.example.org. 60 IN CNAME a.example.",
			"a.example. 60 IN CNAME b.example.", "b.example. 60 IN CNAME a.example.", "evil.example. 60 IN A 203.0.113.1"),
		reply("mx.example.org.", dns.TypeAAAA, false),
	))
	f.Add(join(
		reply("example.org.", dns.TypeMX, false, "example.org. 60 IN MX 10 mx.example.org.", "example.org. 60 IN MX 0 ."),
		reply("mx.example.org.", dns.TypeA, true, "mx.example.org. 60 IN A 192.0.2.25", "x.example. 60 IN A 203.0.113.9"),
		reply("mx.example.org.", dns.TypeAAAA, true),
		reply("_25._tcp.mx.example.org.", dns.TypeTLSA, true, "_25._tcp.evil.example. 60 IN TLSA "+tlsa),
		reply("_25._tcp.mx.example.org.", dns.TypeTLSA, false, "_25._tcp.mx.example.org. 60 IN TLSA "+tlsa),
	))
	tc := reply("mx.example.org.", dns.TypeA, true, "mx.example.org. 60 IN A 192.0.2.25")
	tc.Truncated = true
	f.Add(join(reply("example.org.", dns.TypeMX, true), tc, tc,
		reply("mx.example.org.", dns.TypeAAAA, true, "MX.Example.Org. 60 IN CNAME Target.Example.",
			"target.example. 60 IN AAAA 2001:db8::26"),
		reply("_25._tcp.target.example.", dns.TypeTLSA, true, "_25._tcp.target.example. 60 IN TLSA "+tlsa)))
	f.Add([]byte{0, 2, 0, 0, 0, 12, 0, 0, 0x81, 0xa0, 0, 0, 0, 0, 0, 0, 0, 0})

	srv := startRawDNS(f)
	res := &Resolver{Addr: srv.addr, Timeout: 2 * time.Second}
	f.Fuzz(func(t *testing.T, in []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()

		srv.set(split(in))
		set, err := res.LookupMX(ctx, "example.org")
		served := srv.log()
		if err == nil {
			checkMX(t, set, served)
		}

		srv.set(split(in)[min(len(served), len(split(in))):])
		p, err := Lookup(ctx, Destination{Host: "mx.example.org", NextHop: "example.org"}, &Options{Mode: Try, Resolver: res})
		if err == nil {
			checkPolicy(t, p, srv.log())
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("lookups took %v", time.Since(start))
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatal("lookups hung")
		}
	})
}

// answerOf unpacks a served reply and follows its CNAME chain from the
// question's name, at most as many steps as there are records: the
// records of type t at the chain's end, whether the reply had AD, and
// the end's name.
func answerOf(s servedReply, t uint16) (rrs []dns.RR, ad bool, end string) {
	var m dns.Msg
	if m.Unpack(s.resp) != nil {
		return nil, false, ""
	}
	end = strings.ToLower(s.q.Name)
	for range len(m.Answer) {
		moved := false
		for _, rr := range m.Answer {
			if c, ok := rr.(*dns.CNAME); ok && strings.ToLower(c.Hdr.Name) == end {
				end, moved = strings.ToLower(dns.Fqdn(c.Target)), true
				break
			}
		}
		if !moved {
			break
		}
	}
	for _, rr := range m.Answer {
		if rr.Header().Rrtype == t && strings.ToLower(rr.Header().Name) == end {
			rrs = append(rrs, rr)
		}
	}
	return rrs, m.AuthenticatedData, end
}

func checkMX(t *testing.T, set *MXSet, served []servedReply) {
	t.Helper()
	if len(served) == 0 {
		t.Fatal("an MX set without a query")
	}
	last := served[len(served)-1]
	rrs, ad, end := answerOf(last, dns.TypeMX)
	if set.Secure && !ad {
		t.Fatalf("MX set secure from an answer without AD: %x", last.resp)
	}
	if set.Null && len(set.Hosts) != 0 {
		t.Fatalf("null MX with hosts %v", set.Hosts)
	}
	for _, h := range set.Hosts {
		if h.Host == "" || h.Host == "." {
			t.Fatalf("MX host %q in %+v", h.Host, set)
		}
		if set.Implicit {
			if h.Host != end {
				t.Fatalf("implicit MX %q, the chain ends at %q", h.Host, end)
			}
			continue
		}
		found := false
		for _, rr := range rrs {
			mx := rr.(*dns.MX)
			found = found || strings.ToLower(dns.Fqdn(mx.Mx)) == h.Host && mx.Preference == h.Preference
		}
		if !found {
			t.Fatalf("MX host %+v is no MX record of %q in %x", h, end, last.resp)
		}
	}
}

func checkPolicy(t *testing.T, p *Policy, served []servedReply) {
	t.Helper()
	var a, aaaa, tlsa []servedReply
	for _, s := range served {
		switch s.q.Qtype {
		case dns.TypeA:
			a = append(a, s)
		case dns.TypeAAAA:
			aaaa = append(aaaa, s)
		case dns.TypeTLSA:
			tlsa = append(tlsa, s)
		}
	}
	if len(a) == 0 || len(aaaa) == 0 {
		t.Fatalf("a policy without address queries: %+v", served)
	}
	// A truncated UDP answer is asked again over TCP: the last counts.
	arrs, aad, aend := answerOf(a[len(a)-1], dns.TypeA)
	aaaarrs, aaaaad, aaaaend := answerOf(aaaa[len(aaaa)-1], dns.TypeAAAA)
	if p.AddrSecure && !(aad && aaaaad) {
		t.Fatalf("addresses secure without AD on both answers: %+v", served)
	}
	for _, ip := range p.Addrs {
		found := false
		for _, rr := range append(arrs, aaaarrs...) {
			var got netip.Addr
			switch rr := rr.(type) {
			case *dns.A:
				got, _ = netip.AddrFromSlice(rr.A.To4())
			case *dns.AAAA:
				got, _ = netip.AddrFromSlice(rr.AAAA)
			}
			found = found || got == ip
		}
		if !found {
			t.Fatalf("address %v is no record of %q or %q: %+v", ip, aend, aaaaend, served)
		}
	}
	if p.Action == Opportunistic {
		return
	}
	if !p.AddrSecure || len(tlsa) == 0 {
		t.Fatalf("action %v without secure addresses and a TLSA answer", p.Action)
	}
	trrs, tad, tend := answerOf(tlsa[len(tlsa)-1], dns.TypeTLSA)
	if !tad {
		t.Fatalf("TLSA records used from an answer without AD: %x", tlsa[len(tlsa)-1].resp)
	}
	base := p.BaseDomain + "."
	if base != "mx.example.org." && base != aend && base != aaaaend {
		t.Fatalf("base domain %q: neither the host nor a chain's end (%q, %q)", p.BaseDomain, aend, aaaaend)
	}
	for _, r := range p.Records {
		found := false
		for _, rr := range trrs {
			if w, err := FromRR(rr.(*dns.TLSA)); err == nil && w.String() == r.String() {
				found = true
			}
		}
		if !found {
			t.Fatalf("TLSA %s is no record of %q", r, tend)
		}
	}
}
