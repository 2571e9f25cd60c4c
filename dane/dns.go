package dane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// DefaultTimeout bounds one DNS exchange when Resolver.Timeout is zero and
// the context has no earlier deadline.
const DefaultTimeout = 5 * time.Second

// ednsSize is the UDP payload size advertised in EDNS0 (RFC 6891 section
// 6.2.5), the value of DNS flag day 2020.
const ednsSize = 1232

// Resolver asks one recursive, validating resolver (such as unbound) with
// the AD bit set and EDNS0, and reports per answer whether it is secure
// (RFC 4035 section 3.2.3, RFC 6840 section 5.7). Like Exim, Postfix and
// mox it does not validate signatures itself: it trusts the AD bit, and
// only from a resolver on loopback or one marked Trusted; from any other it
// treats every answer as insecure.
//
// The zero value asks the first nameserver of /etc/resolv.conf.
type Resolver struct {
	// Addr is the resolver's "host:port"; empty means the first
	// nameserver of /etc/resolv.conf.
	Addr string
	// Trusted marks a non-loopback resolver as validating, and the path
	// to it as secure: its AD bit is believed.
	Trusted bool
	// Timeout bounds each exchange; zero means DefaultTimeout.
	Timeout time.Duration
}

// Answer is a resolver's answer to one question: records (NOERROR) or
// none (NODATA, or NXDOMAIN), with its DNSSEC status. A secure NXDOMAIN or
// NODATA is an authenticated denial (RFC 4035 section 5.4).
type Answer struct {
	Name string // the question's name, fully qualified
	Type uint16 // the question's type
	// Records is the answer section as received: normally the CNAMEs
	// followed, then the records of the type asked for (RFC 1034
	// section 3.6.2). Of picks the ones to use.
	Records []dns.RR
	// Secure is the AD bit of a trusted resolver.
	Secure bool
	// NXDomain is true for RCODE NXDOMAIN (RFC 1035 section 4.1.1).
	NXDomain bool
}

// Of returns the records of type t at the name the answer's CNAME chain
// leads to (Target): those answer the question (RFC 1034 section 3.6.2).
// Records of any other name in the answer section are no answer and are
// left out.
func (a *Answer) Of(t uint16) []dns.RR {
	target := a.Target()
	var out []dns.RR
	for _, rr := range a.Records {
		if h := rr.Header(); h.Rrtype == t && strings.EqualFold(h.Name, target) {
			out = append(out, rr)
		}
	}
	return out
}

// Target returns the name the answer's CNAME chain leads to (RFC 1034
// section 3.6.2), in lower case, or the question's name without one. A
// chain is followed at most one step per record, so a loop ends.
func (a *Answer) Target() string {
	name := strings.ToLower(dns.Fqdn(a.Name))
	for range len(a.Records) {
		moved := false
		for _, rr := range a.Records {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, name) {
				name, moved = strings.ToLower(dns.Fqdn(c.Target)), true
				break
			}
		}
		if !moved {
			break
		}
	}
	return name
}

// ErrLookup is wrapped by every *LookupError, for errors.Is.
var ErrLookup = errors.New("dane: DNS lookup failed")

// LookupError is a failed lookup: SERVFAIL (a bogus or unverifiable
// answer from a validating resolver, RFC 4035 section 5.5), REFUSED, a
// timeout or a network error. It is never an "insecure" answer: RFC 7672
// section 2.1.1 makes the host unusable (next MX, or defer).
type LookupError struct {
	Name  string
	Type  uint16
	Rcode int // the response code; -1 without a response
	// EDE is the Extended DNS Error code of the answer (RFC 8914 section
	// 4, such as 6 "DNSSEC Bogus" or 9 "DNSKEY Missing"), HasEDE whether
	// there was one, EDEText its extra text.
	EDE     uint16
	HasEDE  bool
	EDEText string
	Err     error // the transport error, if any
}

func (e *LookupError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dane: %s %s: ", strings.TrimSuffix(e.Name, "."), dns.TypeToString[e.Type])
	if e.Rcode >= 0 {
		b.WriteString(dns.RcodeToString[e.Rcode])
	}
	if e.HasEDE {
		fmt.Fprintf(&b, " (EDE %d %s", e.EDE, dns.ExtendedErrorCodeToString[e.EDE])
		if e.EDEText != "" {
			fmt.Fprintf(&b, ": %s", e.EDEText)
		}
		b.WriteString(")")
	}
	if e.Err != nil {
		if e.Rcode >= 0 {
			b.WriteString(" ")
		}
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns ErrLookup and the transport error.
func (e *LookupError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrLookup, e.Err}
	}
	return []error{ErrLookup}
}

// Temporary is true: a failed lookup defers (RFC 7672 section 2.1.1).
func (e *LookupError) Temporary() bool { return true }

func (r *Resolver) server() (string, error) {
	if r != nil && r.Addr != "" {
		return r.Addr, nil
	}
	cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return "", fmt.Errorf("dane: no resolver: %w", err)
	}
	if len(cc.Servers) == 0 {
		return "", errors.New("dane: no resolver in /etc/resolv.conf")
	}
	return net.JoinHostPort(cc.Servers[0], cc.Port), nil
}

// trusted reports whether AD bits from addr are believed: loopback
// resolvers, or any when Trusted is set (RFC 6698 section 4.1: the path
// to the validating resolver must be secure).
func (r *Resolver) trusted(addr string) bool {
	if r != nil && r.Trusted {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// Query asks for name and type qtype. NOERROR (with or without records)
// and NXDOMAIN are answers; anything else is a *LookupError.
func (r *Resolver) Query(ctx context.Context, name string, qtype uint16) (*Answer, error) {
	name = dns.Fqdn(name)
	addr, err := r.server()
	if err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = true
	// RFC 6840 section 5.7: the AD bit in a query asks for the AD bit in
	// the answer without the signatures that DO would bring.
	m.AuthenticatedData = true
	m.SetEdns0(ednsSize, false)

	timeout := DefaultTimeout
	if r != nil && r.Timeout > 0 {
		timeout = r.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	c := &dns.Client{Net: "udp", UDPSize: ednsSize}
	resp, _, err := c.ExchangeContext(ctx, m, addr)
	if err == nil && resp.Truncated {
		// RFC 7766 section 5: retry a truncated answer over TCP.
		c = &dns.Client{Net: "tcp"}
		resp, _, err = c.ExchangeContext(ctx, m, addr)
	}
	if err != nil {
		return nil, &LookupError{Name: name, Type: qtype, Rcode: -1, Err: err}
	}
	if resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
		le := &LookupError{Name: name, Type: qtype, Rcode: resp.Rcode}
		if opt := resp.IsEdns0(); opt != nil {
			for _, o := range opt.Option {
				if ede, ok := o.(*dns.EDNS0_EDE); ok {
					le.EDE, le.HasEDE, le.EDEText = ede.InfoCode, true, ede.ExtraText
					break
				}
			}
		}
		return nil, le
	}
	return &Answer{
		Name:     name,
		Type:     qtype,
		Records:  resp.Answer,
		Secure:   resp.AuthenticatedData && r.trusted(addr),
		NXDomain: resp.Rcode == dns.RcodeNameError,
	}, nil
}
