package spf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Errors wrapped by Outcome.Err for a permerror; a temperror wraps the
// *net.DNSError or context error behind it instead.
var (
	// ErrMultipleRecords: the domain publishes more than one SPF
	// record (RFC 7208 section 4.5).
	ErrMultipleRecords = errors.New("multiple matching DNS records")

	// ErrLookupLimit: the check needed more DNS-querying terms than
	// Options.LookupLimit allows, or an mx mechanism named more than
	// ten hosts (RFC 7208 section 4.6.4).
	ErrLookupLimit = errors.New("lookup limit reached")

	// ErrVoidLookupLimit: more lookups answered with no records than
	// Options.VoidLookupLimit allows (RFC 7208 section 4.6.4).
	ErrVoidLookupLimit = errors.New("void lookup limit reached")

	// ErrNoRecord: an include or redirect= target publishes no SPF
	// record, or is not a usable domain (RFC 7208 section 5.2 and
	// section 6.1).
	ErrNoRecord = errors.New("no SPF record at include or redirect target")
)

// maxMXHosts is the most hosts an mx mechanism may name (RFC 7208
// section 4.6.4); one more is a permerror.
const maxMXHosts = 10

// maxPTRNames is the most PTR names the ptr mechanism and the p macro
// look at (RFC 7208 section 4.6.4); the others are ignored.
const maxPTRNames = 10

// evaluator runs check_host() (RFC 7208 section 4) for one check. Its
// lookup counters span the whole check, includes and redirects included.
type evaluator struct {
	res       Resolver
	env       macroEnv // d is the domain of the record being evaluated
	lookups   uint     // DNS-querying terms evaluated
	voids     uint     // void lookups seen
	maxLookup uint
	maxVoid   uint
	ptrNames  map[string]string // the p macro, per <domain>
	ptr       *ptrAnswer        // the client's PTR names, once looked up
}

// ptrAnswer is the PTR lookup of the client and the validation of its
// names (RFC 7208 section 5.5), made once per check: ptr mechanisms and
// the p macro of every domain use the same answer.
type ptrAnswer struct {
	valid []string // validated names, of the first maxPTRNames
	err   error    // the PTR lookup's error
}

// verdict is what check_host() returned for one record.
type verdict struct {
	result    Result
	mechanism string  // the term that decided, with its qualifier, or "default"
	rec       *record // the record that decided, after redirects
	domain    string  // rec's domain
	err       error   // for temperror and permerror
}

func permError(err error) verdict { return verdict{result: PermError, err: err} }

func tempError(err error) verdict { return verdict{result: TempError, err: err} }

// checkHost is check_host() for a domain reached by include or
// redirect=: its record is fetched and evaluated (RFC 7208 section 4.4 to
// section 4.7). A result of none is left for the caller to turn into a
// permerror.
func (e *evaluator) checkHost(ctx context.Context, domain string) verdict {
	if !validDomain(domain) {
		return verdict{result: None, err: fmt.Errorf("%w: %q", ErrInvalidDomain, domain)}
	}
	txts, err := e.res.LookupTXT(ctx, fqdn(domain))
	txt, v := selectRecord(txts, err)
	if v.result != "" {
		return v
	}
	return e.evalRecord(ctx, domain, txt)
}

// selectRecord picks the SPF record out of the answer to the TXT query
// for a domain (RFC 7208 section 4.4 and section 4.5): no record or
// NXDOMAIN is none, another DNS error temperror, more than one record
// permerror. The verdict's result is "" when txt is to be evaluated.
func selectRecord(txts []string, err error) (string, verdict) {
	if err != nil {
		if isNotFound(err) {
			return "", verdict{result: None}
		}
		return "", tempError(err)
	}
	recs := spfRecords(txts)
	switch len(recs) {
	case 0:
		return "", verdict{result: None}
	case 1:
		return recs[0], verdict{}
	}
	return "", permError(ErrMultipleRecords)
}

// evalRecord evaluates the record txt of domain (RFC 7208 section 4.6 and
// section 4.7). The whole record is parsed first, so that a syntax error
// anywhere is a permerror even after a term that would match.
func (e *evaluator) evalRecord(ctx context.Context, domain, txt string) verdict {
	rec, err := parseRecord(txt)
	if err != nil {
		return permError(err)
	}
	saved := e.env.domain
	e.env.domain = domain
	defer func() { e.env.domain = saved }()

	for i := range rec.mechanisms {
		m := &rec.mechanisms[i]
		if m.counts() {
			if err := e.count(); err != nil {
				return permError(err)
			}
		}
		matched, v := e.match(ctx, m)
		if v.result != "" {
			return v
		}
		if matched {
			// Section 4.6.2: the qualifier gives the result; "+" is
			// the default, so it is not written.
			mech := m.text
			switch m.qualifier {
			case Fail:
				mech = "-" + mech
			case SoftFail:
				mech = "~" + mech
			case Neutral:
				mech = "?" + mech
			}
			return verdict{result: m.qualifier, mechanism: mech, rec: rec, domain: domain}
		}
	}

	if rec.redirect != "" {
		// Section 6.1: redirect= counts as a DNS-querying term; its
		// target's result is this record's, none becoming permerror.
		if err := e.count(); err != nil {
			return permError(err)
		}
		target, err := e.expand(ctx, rec.redirect)
		if err != nil {
			return permError(err)
		}
		v := e.checkHost(ctx, target)
		if v.result == None {
			return permError(fmt.Errorf("%w: redirect=%s", ErrNoRecord, target))
		}
		return v
	}
	// Section 4.7: no term matched.
	return verdict{result: Neutral, mechanism: "default", rec: rec, domain: domain}
}

// count counts one DNS-querying term (RFC 7208 section 4.6.4).
func (e *evaluator) count() error {
	e.lookups++
	if e.lookups > e.maxLookup {
		return fmt.Errorf("%w: more than %d DNS-querying terms", ErrLookupLimit, e.maxLookup)
	}
	return nil
}

// void counts one void lookup (RFC 7208 section 4.6.4).
func (e *evaluator) void() error {
	e.voids++
	if e.voids > e.maxVoid {
		return fmt.Errorf("%w: more than %d", ErrVoidLookupLimit, e.maxVoid)
	}
	return nil
}

// expand expands a domain-spec into a target-name (RFC 7208 section 4.8
// and section 7), without a trailing dot.
func (e *evaluator) expand(ctx context.Context, spec string) (string, error) {
	env := e.env
	env.ptr = func() string { return e.ptrName(ctx) }
	name, err := expandMacros(spec, &env, false)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	return strings.TrimSuffix(name, "."), nil
}

// ptrName is the p macro for the current domain (RFC 7208 section 7.3),
// looked up once per domain and check.
func (e *evaluator) ptrName(ctx context.Context) string {
	if p, ok := e.ptrNames[e.env.domain]; ok {
		return p
	}
	p := "unknown"
	if a := e.validated(ctx); a.err == nil {
		p = pickName(a.valid, e.env.domain)
	}
	if e.ptrNames == nil {
		e.ptrNames = make(map[string]string)
	}
	e.ptrNames[e.env.domain] = p
	return p
}

// validated returns the client's validated PTR names, looking them up
// the first time.
func (e *evaluator) validated(ctx context.Context) *ptrAnswer {
	if e.ptr == nil {
		names, err := e.res.LookupAddr(ctx, e.env.ip.String())
		e.ptr = &ptrAnswer{err: err}
		if err == nil {
			e.ptr.valid = validNames(ctx, e.res, e.env.ip, names)
		}
	}
	return e.ptr
}

// target is the target-name of m: its expanded domain-spec, or <domain>
// when it has none (RFC 7208 section 4.8). ok is false for a name that
// can not be queried (an empty or overlong label after expansion), which
// makes the mechanism not match, as section 4.3 treats such a <domain>.
func (e *evaluator) target(ctx context.Context, m *mechanism) (name string, ok bool, err error) {
	if m.domain == "" {
		return e.env.domain, true, nil
	}
	name, err = e.expand(ctx, m.domain)
	if err != nil {
		return "", false, err
	}
	return name, queryable(name), nil
}

// queryable reports whether name can be put in a DNS query: 1 to 253
// octets in labels of 1 to 63.
func queryable(name string) bool {
	if name == "" || len(name) > maxDomainLen {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
	}
	return true
}

// match evaluates one mechanism (RFC 7208 section 5). A verdict with a
// result means the check ends with it: temperror or permerror.
func (e *evaluator) match(ctx context.Context, m *mechanism) (bool, verdict) {
	ip := e.env.ip
	switch m.kind {
	case mechAll:
		return true, verdict{}
	case mechIP4, mechIP6:
		// Section 5.6: an IPv4 client never matches ip6, nor an IPv6
		// client ip4; an IPv4-mapped client was unmapped already.
		return ip.Is4() == m.prefix.Addr().Is4() && m.prefix.Contains(ip), verdict{}
	}

	name, ok, err := e.target(ctx, m)
	if err != nil {
		return false, permError(err)
	}
	if m.kind == mechInclude {
		// Section 5.2: the included record's result decides whether
		// include matches; its exp= is not used.
		if !ok {
			return false, permError(fmt.Errorf("%w: include:%s", ErrNoRecord, name))
		}
		v := e.checkHost(ctx, name)
		switch v.result {
		case Pass:
			return true, verdict{}
		case Fail, SoftFail, Neutral:
			return false, verdict{}
		case None:
			return false, permError(fmt.Errorf("%w: include:%s", ErrNoRecord, name))
		}
		return false, v
	}
	if !ok {
		return false, verdict{}
	}

	switch m.kind {
	case mechA:
		// Section 5.3: the A records for an IPv4 client, AAAA for IPv6.
		addrs, err := lookupAddrs(ctx, e.res, name, ip.Is6())
		if err != nil {
			return false, e.lookupFailed(err)
		}
		return e.inCIDR(m, addrs), verdict{}

	case mechMX:
		// Section 5.4: the addresses of the MX hosts, at most ten.
		mxs, err := e.res.LookupMX(ctx, fqdn(name))
		if err != nil {
			return false, e.lookupFailed(err)
		}
		if len(mxs) == 0 {
			return false, e.lookupFailed(&net.DNSError{Err: "no MX records", Name: name, IsNotFound: true})
		}
		if len(mxs) > maxMXHosts {
			return false, permError(fmt.Errorf("%w: %s has more than %d MX hosts", ErrLookupLimit, name, maxMXHosts))
		}
		for _, mx := range mxs {
			if mx == nil {
				continue // a Resolver's garbage names no host
			}
			host := strings.TrimSuffix(mx.Host, ".")
			if host == "" {
				continue // a null MX (RFC 7505) names no host
			}
			addrs, err := lookupAddrs(ctx, e.res, host, ip.Is6())
			if err != nil {
				if isNotFound(err) {
					continue
				}
				return false, tempError(err)
			}
			if e.inCIDR(m, addrs) {
				return true, verdict{}
			}
		}
		return false, verdict{}

	case mechPTR:
		// Section 5.5: a validated name of the client that is the
		// target or below it. A failing PTR lookup does not match.
		// A void PTR answer counts for each ptr term (section 4.6.4).
		a := e.validated(ctx)
		if a.err != nil {
			if isNotFound(a.err) {
				if verr := e.void(); verr != nil {
					return false, permError(verr)
				}
			}
			return false, verdict{}
		}
		for _, n := range a.valid {
			if isSubdomain(n, name) {
				return true, verdict{}
			}
		}
		return false, verdict{}

	case mechExists:
		// Section 5.7: any A record matches, whatever the client's
		// address family.
		addrs, err := lookupAddrs(ctx, e.res, name, false)
		if err != nil {
			return false, e.lookupFailed(err)
		}
		return len(addrs) > 0, verdict{}
	}
	return false, verdict{}
}

// lookupFailed is the verdict for the failed lookup of a mechanism: a
// void lookup does not match (RFC 7208 section 5) unless there are too
// many (section 4.6.4); another error is a temperror.
func (e *evaluator) lookupFailed(err error) verdict {
	if !isNotFound(err) {
		return tempError(err)
	}
	if verr := e.void(); verr != nil {
		return permError(verr)
	}
	return verdict{}
}

// inCIDR reports whether the client is in one of addrs, taken to the CIDR
// length of m for its family (RFC 7208 section 5.6).
func (e *evaluator) inCIDR(m *mechanism, addrs []netip.Addr) bool {
	bits := m.cidr4
	if e.env.ip.Is6() {
		bits = m.cidr6
	}
	for _, a := range addrs {
		if a.Is4() != e.env.ip.Is4() {
			continue
		}
		if p, err := a.Prefix(bits); err == nil && p.Contains(e.env.ip) {
			return true
		}
	}
	return false
}

// netIPResolver is the part of *net.Resolver that asks for one address
// family only.
type netIPResolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// lookupAddrs returns the AAAA (v6) or A addresses of name, unmapped. An
// answer without addresses of that family is a *net.DNSError with
// IsNotFound, as RFC 7208 section 4.6.4 counts it void.
func lookupAddrs(ctx context.Context, r Resolver, name string, v6 bool) ([]netip.Addr, error) {
	var addrs []netip.Addr
	if nr, ok := r.(netIPResolver); ok {
		network := "ip4"
		if v6 {
			network = "ip6"
		}
		got, err := nr.LookupNetIP(ctx, network, fqdn(name))
		if err != nil {
			return nil, err
		}
		for _, a := range got {
			addrs = append(addrs, a.Unmap())
		}
	} else {
		got, err := r.LookupIPAddr(ctx, fqdn(name))
		if err != nil {
			return nil, err
		}
		for _, a := range got {
			if ip, ok := netipFromIP(a.IP); ok {
				addrs = append(addrs, ip)
			}
		}
	}
	kept := addrs[:0]
	for _, a := range addrs {
		if a.Is6() == v6 {
			kept = append(kept, a)
		}
	}
	if len(kept) == 0 {
		return nil, &net.DNSError{Err: "no addresses of the family", Name: name, IsNotFound: true}
	}
	return kept, nil
}

// validNames returns the names among the first maxPTRNames PTR names of
// ip whose addresses include ip (RFC 7208 section 5.5), without the
// trailing dot. A name whose lookup fails is left out.
func validNames(ctx context.Context, r Resolver, ip netip.Addr, names []string) []string {
	if len(names) > maxPTRNames {
		names = names[:maxPTRNames]
	}
	var valid []string
	for _, n := range names {
		n = strings.TrimSuffix(n, ".")
		if n == "" {
			continue
		}
		addrs, err := lookupAddrs(ctx, r, n, ip.Is6())
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if a == ip {
				valid = append(valid, n)
				break
			}
		}
	}
	return valid
}
