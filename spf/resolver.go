package spf

import (
	"context"
	"errors"
	"net"
	"strings"
)

// Resolver is the DNS interface the checker needs; a *net.Resolver
// satisfies it. When the Resolver also has *net.Resolver's LookupNetIP,
// the a, mx and exists mechanisms ask for one address family only. Errors
// should be *net.DNSError values, as a *net.Resolver returns them: their
// IsNotFound, IsTimeout and IsTemporary fields decide between none,
// a void lookup and temperror (RFC 7208 section 5, section 4.6.4).
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// fqdn gives name a trailing dot.
func fqdn(name string) string {
	if name == "" || strings.HasSuffix(name, ".") {
		return name
	}
	return name + "."
}

// isNotFound reports NXDOMAIN or NODATA, which RFC 7208 section 4.3 and
// section 5 treat as "no records".
func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// spfRecords picks the SPF records out of a TXT answer (RFC 7208
// section 4.5).
func spfRecords(txts []string) []string {
	var recs []string
	for _, t := range txts {
		if isSPFRecord(t) {
			recs = append(recs, t)
		}
	}
	return recs
}

// validatedName is the "p" macro (RFC 7208 section 7.3): a name of ip
// found by a PTR lookup whose addresses include ip (section 5.5),
// preferring <domain> or a subdomain of it, else "unknown". At most ten
// names are tried (section 4.6.4).
func validatedName(ctx context.Context, r Resolver, e *macroEnv) string {
	names, err := r.LookupAddr(ctx, e.ip.String())
	if err != nil {
		return "unknown"
	}
	return pickName(validNames(ctx, r, e.ip, names), e.domain)
}

// pickName is the p macro's choice among validated names (RFC 7208
// section 7.3): one that is domain or below it, else the first, else
// "unknown".
func pickName(valid []string, domain string) string {
	for _, n := range valid {
		if isSubdomain(n, domain) {
			return n
		}
	}
	if len(valid) == 0 {
		return "unknown"
	}
	return valid[0]
}

// isSubdomain reports whether name is domain or below it, comparing whole
// labels without case.
func isSubdomain(name, domain string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	return name == domain || strings.HasSuffix(name, "."+domain)
}
