package dane

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Mode is how much DANE a delivery asks for, as Exim's smtp transport
// options say.
type Mode int

const (
	// Off does no TLSA lookups: ordinary opportunistic TLS.
	Off Mode = iota
	// Try uses DANE where the destination publishes usable TLSA records
	// over DNSSEC, and ordinary opportunistic TLS elsewhere (Exim's
	// hosts_try_dane, RFC 7672).
	Try
	// Require delivers only with DANE: a host without secure TLSA
	// records is deferred (Exim's hosts_require_dane; see the package
	// documentation for where Exim bounces instead).
	Require
)

func (m Mode) String() string {
	switch m {
	case Off:
		return "off"
	case Try:
		return "try"
	case Require:
		return "require"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// ParseMode reads "off", "try" or "require".
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "off", "":
		return Off, nil
	case "try":
		return Try, nil
	case "require":
		return Require, nil
	}
	return Off, fmt.Errorf("dane: unknown mode %q (want off, try or require)", s)
}

// Errors of Lookup in Require mode and of host lookups. Every error of
// this package means "this host is unusable now": try the next MX host,
// or defer (RFC 7672 section 2.1.1); never deliver in plaintext.
var (
	// ErrNotSecure: Require, and the MX or address records are not
	// DNSSEC-validated, or the host is an IP address (RFC 7672 section
	// 2.2).
	ErrNotSecure = errors.New("dane: required, but the DNS records are not DNSSEC-validated")
	// ErrNoTLSA: Require, and the host publishes no TLSA records (an
	// insecure answer or an authenticated denial).
	ErrNoTLSA = errors.New("dane: required, but the host has no secure TLSA records")
	// ErrNoAddress: the host has no A or AAAA records.
	ErrNoAddress = errors.New("dane: host has no address records")
)

// DefaultPort is the SMTP port whose TLSA records are looked up
// ("_25._tcp", RFC 7672 section 2.2.3).
const DefaultPort = 25

// Options configures Lookup. A nil *Options means Off.
type Options struct {
	// Mode is Off, Try or Require.
	Mode Mode
	// Resolver is the validating resolver; nil means the zero Resolver
	// (the first nameserver of /etc/resolv.conf, trusted when on
	// loopback).
	Resolver *Resolver
	// Port is the port of the TLSA owner name "_port._tcp.host"; zero
	// means DefaultPort. It need not be the port dialled (tests).
	Port int
	// Logger gets a debug line per lookup outcome; nil discards.
	Logger *slog.Logger
}

// Destination is one host to deliver to.
type Destination struct {
	// Host is the MX host name (or the domain itself when it has no MX,
	// or a smarthost name).
	Host string
	// NextHop is the next-hop domain: the recipient domain whose MX
	// records named Host. With a secure MX RRset it is a reference
	// identifier for DANE-TA certificates (RFC 7672 section 3.2.2).
	NextHop string
	// NextHopExpanded is NextHop after a secure CNAME chain, also a
	// reference identifier; MXSet.Expanded gives it.
	NextHopExpanded string
	// MXInsecure reports that Host came from an MX RRset that is not
	// DNSSEC-validated (RFC 7672 section 2.2.1). Require then defers;
	// Try still uses DANE for the host when its records are secure.
	MXInsecure bool
}

// Action is what a Policy makes the TLS handshake do (RFC 7672 section
// 2.2).
type Action int

const (
	// Opportunistic: no DANE for this host (DANE off, insecure records,
	// authenticated denial of TLSA): ordinary opportunistic TLS, and
	// plaintext where the server offers no STARTTLS.
	Opportunistic Action = iota
	// MandatoryTLS: secure TLSA records exist but none is usable; TLS is
	// mandatory, the certificate is not authenticated (RFC 7672 section
	// 2.2, "all records unusable").
	MandatoryTLS
	// Authenticate: secure, usable TLSA records; the server must be
	// authenticated by them, or the host is skipped (RFC 7672 section
	// 2.2, no fallback).
	Authenticate
)

func (a Action) String() string {
	switch a {
	case Opportunistic:
		return "opportunistic"
	case MandatoryTLS:
		return "mandatory-tls"
	case Authenticate:
		return "dane"
	}
	return "Action(" + strconv.Itoa(int(a)) + ")"
}

// MX is one mail exchanger.
type MX struct {
	Host       string // fully qualified
	Preference uint16
}

// MXSet is the MX RRset of a domain, in preference order.
type MXSet struct {
	Domain string // fully qualified
	// Expanded is Domain after a CNAME chain (RFC 5321 section 5.1), a
	// reference identifier when Secure.
	Expanded string
	Hosts    []MX
	// Secure reports that the MX RRset (or its absence) is
	// DNSSEC-validated.
	Secure bool
	// Implicit is true when the domain has no MX records: Hosts holds
	// the domain itself (RFC 5321 section 5.1), after its CNAME chain;
	// none when that chain ends at the root.
	Implicit bool
	// Null is true for a null MX, "MX 0 ." (RFC 7505): the domain
	// accepts no mail; Hosts is empty.
	Null bool
}

// LookupMX returns the MX hosts of domain. Hosts of equal preference keep
// the resolver's order; callers that shuffle them (RFC 5321 section 5.1)
// may do so. MX preference always wins over TLSA presence (RFC 7672
// section 2.2.1).
func (r *Resolver) LookupMX(ctx context.Context, domain string) (*MXSet, error) {
	a, err := r.Query(ctx, domain, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	set := &MXSet{Domain: a.Name, Expanded: a.Target(), Secure: a.Secure}
	mxs := a.Of(dns.TypeMX)
	for _, rr := range mxs {
		mx := rr.(*dns.MX)
		host := dns.Fqdn(strings.ToLower(mx.Mx))
		if host == "." {
			// RFC 7505 section 3: "." is no host; with other MX
			// records it is a misconfiguration, and they are used.
			continue
		}
		set.Hosts = append(set.Hosts, MX{Host: host, Preference: mx.Preference})
	}
	switch {
	case len(mxs) == 0:
		set.Implicit = true
		if set.Expanded != "." {
			// A CNAME chain that ends at the root names no host.
			set.Hosts = []MX{{Host: set.Expanded}}
		}
	case len(set.Hosts) == 0:
		// RFC 7505: a null MX, "MX 0 .", the domain takes no mail.
		set.Null = true
	}
	slices.SortStableFunc(set.Hosts, func(x, y MX) int { return cmp.Compare(x.Preference, y.Preference) })
	return set, nil
}

// Lookup finds the DANE policy for one destination host (RFC 7672
// section 2.2): its address records, then, when they are secure, the TLSA
// records at "_25._tcp." of the CNAME-expanded host name and then of the
// original name (section 2.2.2). An error means the host is unusable now
// (next MX, or defer); it is a *LookupError for failed lookups
// (SERVFAIL, timeouts), or wraps ErrNotSecure, ErrNoTLSA or ErrNoAddress.
// With Mode Off, Lookup asks nothing and returns an Opportunistic policy.
func Lookup(ctx context.Context, d Destination, o *Options) (*Policy, error) {
	var opts Options
	if o != nil {
		opts = *o
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	port := opts.Port
	if port == 0 {
		port = DefaultPort
	}
	host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(d.Host, "]"), "["), ".")
	p := &Policy{Mode: opts.Mode, Host: host}
	if opts.Mode == Off {
		return p, nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		// RFC 7672 section 2.2.3 and Exim: an IP address is no base
		// domain for TLSA records.
		p.Reason = "IP address"
		return p.orRequire(ErrNotSecure)
	}
	if d.MXInsecure {
		p.Reason = "MX records not DNSSEC-validated"
		if opts.Mode == Require {
			// RFC 7672 section 2.2.1: with DANE required, delay.
			return nil, fmt.Errorf("%w: MX records of %s", ErrNotSecure, d.NextHop)
		}
	}

	res := opts.Resolver
	fq := dns.Fqdn(strings.ToLower(host))
	// RFC 7672 section 2.2.2: address records first; TLSA only when they
	// are secure.
	a4, err := res.Query(ctx, fq, dns.TypeA)
	if err != nil {
		return nil, err
	}
	a6, err := res.Query(ctx, fq, dns.TypeAAAA)
	if err != nil {
		return nil, err
	}
	for _, rrs := range [][]dns.RR{a4.Of(dns.TypeA), a6.Of(dns.TypeAAAA)} {
		for _, rr := range rrs {
			var ip netip.Addr
			switch rr := rr.(type) {
			case *dns.A:
				ip, _ = netip.AddrFromSlice(rr.A.To4())
			case *dns.AAAA:
				ip, _ = netip.AddrFromSlice(rr.AAAA)
			default:
				continue
			}
			if ip.IsValid() {
				p.Addrs = append(p.Addrs, ip)
			}
		}
	}
	if len(p.Addrs) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoAddress, host)
	}
	p.AddrSecure = a4.Secure && a6.Secure
	if !p.AddrSecure {
		p.Reason = "address records not DNSSEC-validated"
		log.Debug("dane: not used", "host", host, "reason", p.Reason)
		return p.orRequire(ErrNotSecure)
	}

	// RFC 7672 section 2.2.2: with a secure CNAME chain, the expanded
	// name first, then the original; intermediate names never.
	candidates := []string{fq}
	if t := a4.Target(); t != fq {
		candidates = []string{t, fq}
	} else if t := a6.Target(); t != fq {
		candidates = []string{t, fq}
	}
	for _, base := range candidates {
		owner := fmt.Sprintf("_%d._tcp.%s", port, base)
		ans, err := res.Query(ctx, owner, dns.TypeTLSA)
		if err != nil {
			// RFC 7672 section 2.1.1: a failed TLSA lookup makes the
			// host unusable, never a downgrade.
			return nil, err
		}
		rrs := ans.Of(dns.TypeTLSA)
		if !ans.Secure || len(rrs) == 0 {
			// Insecure, or an authenticated denial: no TLSA here.
			continue
		}
		// A CNAME at the TLSA owner is followed; the base domain stays
		// (RFC 7672 section 2.2.3).
		p.BaseDomain = strings.TrimSuffix(base, ".")
		for _, rr := range rrs {
			rec, err := FromRR(rr.(*dns.TLSA))
			if err != nil {
				continue
			}
			p.Records = append(p.Records, rec)
		}
		p.Usable = Usable(p.Records)
		p.Names = referenceIDs(p.BaseDomain, host, d)
		if len(p.Usable) == 0 {
			// RFC 7672 section 2.2: secure but unusable TLSA records
			// make TLS mandatory, unauthenticated.
			p.Action, p.Reason = MandatoryTLS, "no usable TLSA records"
		} else {
			p.Action, p.Reason = Authenticate, ""
		}
		log.Debug("dane: TLSA", "host", host, "base", p.BaseDomain, "records", len(p.Records), "usable", len(p.Usable), "action", p.Action)
		return p, nil
	}
	p.Reason = "no secure TLSA records"
	log.Debug("dane: not used", "host", host, "reason", p.Reason)
	return p.orRequire(ErrNoTLSA)
}

// orRequire returns p for Try, or err for Require: RFC 7672 section 6
// defers where Exim's hosts_require_dane bounces.
func (p *Policy) orRequire(err error) (*Policy, error) {
	if p.Mode == Require {
		return nil, fmt.Errorf("%w: %s (%s)", err, p.Host, p.Reason)
	}
	return p, nil
}

// referenceIDs returns the names a DANE-TA certificate may carry (RFC 7672
// section 3.2.2): the TLSA base domain, the MX host name as given, and
// with a secure MX RRset the next-hop domain and its expanded form.
func referenceIDs(base, host string, d Destination) []string {
	names := []string{base}
	add := func(n string) {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	add(host)
	if !d.MXInsecure {
		add(d.NextHop)
		add(d.NextHopExpanded)
	}
	return names
}
