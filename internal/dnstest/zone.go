package dnstest

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// DefaultTTL is the TTL given to records whose zone text names none.
const DefaultTTL = 300

// A Zone is a set of records served under one origin.
type Zone struct {
	// Name is the zone's origin, such as "example.test" or
	// "2.0.192.in-addr.arpa". A trailing dot is optional.
	Name string

	// Text holds the records in zone file syntax (RFC 1035 section 5.1).
	// $ORIGIN defaults to Name and $TTL to DefaultTTL, so owners and
	// targets without a trailing dot are relative to Name; write
	// "mx.example.test." with the dot to mean an absolute name. The
	// indentation that all non-blank lines share is removed first, so the
	// text can be indented in Go source. A zone without a SOA record gets
	// a made-up one.
	Text string

	// Secure sets the AD bit on every answer from this zone, as a
	// validating resolver does for data it proved authentic
	// (RFC 4035 section 3.2.3). See SetMode to change it later.
	Secure bool
}

// zone is a parsed Zone. Its records never change after parsing; its
// behaviour is guarded by the Server's lock.
type zone struct {
	origin  string              // canonical: lower case, fully qualified
	records map[string][]dns.RR // by canonical owner, in text order
	names   map[string]bool     // every owner and its ancestors down to origin
	soa     *dns.SOA
	mode    behaviour
}

// parseZone reads z.Text.
func parseZone(z Zone) (*zone, error) {
	origin := dns.CanonicalName(z.Name)
	if _, ok := dns.IsDomainName(origin); !ok || z.Name == "" {
		return nil, fmt.Errorf("dnstest: bad zone name %q", z.Name)
	}
	zn := &zone{
		origin:  origin,
		records: make(map[string][]dns.RR),
		names:   map[string]bool{origin: true},
		mode:    behaviour{secure: z.Secure},
	}
	zp := dns.NewZoneParser(strings.NewReader(dedent(z.Text)), origin, origin)
	zp.SetDefaultTTL(DefaultTTL)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		h := rr.Header()
		if h.Name == "" {
			// A blank owner on the first line: nothing to repeat, so
			// take the origin.
			h.Name = origin
		}
		owner := dns.CanonicalName(h.Name)
		if !dns.IsSubDomain(origin, owner) {
			return nil, fmt.Errorf("dnstest: zone %s: record %q is outside the zone", origin, rr.String())
		}
		if soa, ok := rr.(*dns.SOA); ok && owner == origin {
			zn.soa = soa
		}
		zn.records[owner] = append(zn.records[owner], rr)
		for n := owner; n != origin; n = parent(n) {
			zn.names[n] = true
		}
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("dnstest: %w", err)
	}
	if zn.soa == nil {
		zn.soa = &dns.SOA{
			Hdr:     dns.RR_Header{Name: origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: DefaultTTL},
			Ns:      "ns." + origin,
			Mbox:    "hostmaster." + origin,
			Serial:  1,
			Refresh: 3600,
			Retry:   600,
			Expire:  86400,
			Minttl:  DefaultTTL,
		}
		if origin == "." {
			zn.soa.Ns, zn.soa.Mbox = "ns.", "hostmaster."
		}
		zn.records[origin] = append([]dns.RR{zn.soa}, zn.records[origin]...)
	}
	return zn, nil
}

// lookup returns the records at name (canonical, inside the zone), and
// whether the name exists. A name exists if it owns records or has
// descendants that do: an empty non-terminal exists with no records
// (RFC 8020 section 2). Names that do not exist are answered from a
// wildcard when one applies (RFC 4592 section 3.3.1).
func (z *zone) lookup(name, qname string) ([]dns.RR, bool) {
	if z.names[name] {
		return z.records[name], true
	}
	// The closest encloser is the nearest ancestor that exists; only its
	// "*" child can synthesise an answer for name.
	for p := parent(name); p != ""; p = parent(p) {
		if !z.names[p] {
			continue
		}
		wild := z.records["*."+p]
		if len(wild) == 0 {
			return nil, false
		}
		out := make([]dns.RR, len(wild))
		for i, rr := range wild {
			out[i] = dns.Copy(rr)
			out[i].Header().Name = qname
		}
		return out, true
	}
	return nil, false
}

// negativeSOA returns the SOA for the authority section of a negative
// answer, with the TTL RFC 2308 section 3 asks for: the lesser of the SOA's
// own TTL and its MINIMUM field.
func (z *zone) negativeSOA() dns.RR {
	soa := dns.Copy(z.soa).(*dns.SOA)
	soa.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
	return soa
}

// parent returns name less its first label, or "" for the root.
func parent(name string) string {
	if name == "." || name == "" {
		return ""
	}
	i, end := dns.NextLabel(name, 0)
	if end || i >= len(name) {
		return "."
	}
	return name[i:]
}

// dedent removes the leading blanks that all non-blank lines of s share,
// keeping line numbers, so that parse errors point at the right line.
func dedent(s string) string {
	lines := strings.Split(s, "\n")
	prefix, first := "", true
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		lead := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if first {
			prefix, first = lead, false
			continue
		}
		for !strings.HasPrefix(lead, prefix) {
			prefix = prefix[:len(prefix)-1]
		}
	}
	if prefix == "" {
		return s
	}
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, prefix)
	}
	return strings.Join(lines, "\n")
}
