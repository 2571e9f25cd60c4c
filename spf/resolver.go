package spf

import (
	"context"
	"errors"
	"net"
	"strings"
)

// Resolver is the DNS interface the checker needs; a *net.Resolver
// satisfies it, and so does blitiri.com.ar/go/spf's DNSResolver. Errors
// should be *net.DNSError values, as a *net.Resolver returns them: their
// IsNotFound, IsTimeout and IsTemporary fields decide between none,
// a void lookup and temperror (RFC 7208 section 5, section 4.6.4).
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// evalResolver is what the evaluator sees during one check. Every name is
// made fully qualified, since SPF domains are absolute and a resolver's
// search list must not apply to them. The first TXT query for the checked
// domain is answered from the lookup the checker already made, or with the
// best-guess record when the domain publishes none.
type evalResolver struct {
	Resolver
	top    string   // the checked domain
	served bool     // top's answer was handed out
	txts   []string // the answer for top
	err    error
}

func (e *evalResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if !e.served && sameName(name, e.top) {
		e.served = true
		return e.txts, e.err
	}
	return e.Resolver.LookupTXT(ctx, fqdn(name))
}

func (e *evalResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return e.Resolver.LookupMX(ctx, fqdn(name))
}

func (e *evalResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return e.Resolver.LookupIPAddr(ctx, fqdn(host))
}

// fqdn gives name a trailing dot.
func fqdn(name string) string {
	if name == "" || strings.HasSuffix(name, ".") {
		return name
	}
	return name + "."
}

// sameName compares domain names without case or trailing dot (RFC 4343).
func sameName(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

// isNotFound reports NXDOMAIN or NODATA, which RFC 7208 section 4.3 and
// section 5 treat as "no records".
func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// spfRecords picks the SPF records out of a TXT answer: those that are
// exactly "v=spf1" or begin with "v=spf1 " (RFC 7208 section 4.5).
func spfRecords(txts []string) []string {
	var recs []string
	for _, t := range txts {
		if len(t) >= 6 && strings.EqualFold(t[:6], "v=spf1") && (len(t) == 6 || t[6] == ' ') {
			recs = append(recs, t)
		}
	}
	return recs
}

// validatedName is the "p" macro (RFC 7208 section 7.3): a name of ip
// found by a PTR lookup whose address records include ip (section 5.5),
// preferring domain or a subdomain of it, else "unknown". At most ten
// names are tried (section 4.6.4).
func validatedName(ctx context.Context, r Resolver, e *macroEnv) string {
	names, err := r.LookupAddr(ctx, e.ip.String())
	if err != nil {
		return "unknown"
	}
	if len(names) > 10 {
		names = names[:10]
	}
	found := ""
	for _, n := range names {
		addrs, err := r.LookupIPAddr(ctx, fqdn(n))
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ip, ok := netipFromIP(a.IP)
			if !ok || ip != e.ip {
				continue
			}
			n = strings.TrimSuffix(n, ".")
			if isSubdomain(n, e.domain) {
				return n
			}
			if found == "" {
				found = n
			}
			break
		}
	}
	if found == "" {
		return "unknown"
	}
	return found
}

// isSubdomain reports whether name is domain or below it, comparing whole
// labels without case.
func isSubdomain(name, domain string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	return name == domain || strings.HasSuffix(name, "."+domain)
}
