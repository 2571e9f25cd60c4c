package dmarc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Resolver is the DNS interface the package needs; a *net.Resolver
// satisfies it. Errors should be *net.DNSError values, as a
// *net.Resolver returns them: IsNotFound means "no such record", any
// other error is a temporary failure.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
}

// ErrDNS is wrapped by the errors of DNS failures that made the status
// temperror.
var ErrDNS = errors.New("DNS failure")

// found is the outcome of a query for _dmarc.<domain>.
type found struct {
	rec  *Record // nil: no usable record
	note string  // why rec is nil, when it is not simply absent
	err  error   // a temporary failure; rec is nil
}

// discovery runs the DNS side of one evaluation: it remembers every
// _dmarc answer, so that policy discovery and the tree walks of alignment
// (RFC 9989 section 4.10.2) ask for each name once.
type discovery struct {
	res   Resolver
	bis   bool
	cache map[string]found
}

func newDiscovery(res Resolver, bis bool) *discovery {
	return &discovery{res: res, bis: bis, cache: map[string]found{}}
}

// record queries _dmarc.<domain> (RFC 7489 section 6.6.3 steps 1, 2 and 5):
// TXT records not starting with v=DMARC1 are discarded; none, or more than
// one, means no record.
func (d *discovery) record(ctx context.Context, domain string) found {
	if f, ok := d.cache[domain]; ok {
		return f
	}
	f := d.query(ctx, domain)
	d.cache[domain] = f
	return f
}

func (d *discovery) query(ctx context.Context, domain string) found {
	txts, err := d.res.LookupTXT(ctx, "_dmarc."+domain+".")
	if err != nil {
		if isNotFound(err) {
			return found{}
		}
		return found{err: fmt.Errorf("%w: TXT _dmarc.%s: %w", ErrDNS, domain, err)}
	}
	var recs []string
	for _, t := range txts {
		if hasVersion(t) {
			recs = append(recs, t)
		}
	}
	switch len(recs) {
	case 0:
		return found{}
	case 1:
	default:
		return found{note: fmt.Sprintf("%d DMARC records at _dmarc.%s", len(recs), domain)}
	}
	r, err := parseRecord(domain, recs[0], d.bis)
	if err != nil {
		return found{note: fmt.Sprintf("record at _dmarc.%s not applied: %v", domain, err)}
	}
	return found{rec: r}
}

// isNotFound reports NXDOMAIN or NODATA.
func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// MaxTreeWalkQueries is the most _dmarc queries one DNS Tree Walk makes
// (RFC 9989 section 4.10: names of eight labels or more are cut to seven
// after the first query).
const MaxTreeWalkQueries = 8

// walk performs the DNS Tree Walk of RFC 9989 section 4.10 from start: the
// records found at start and its ancestors, longest name first, stopping
// after a record with psd=y or psd=n.
func (d *discovery) walk(ctx context.Context, start string) ([]*Record, error) {
	var recs []*Record
	name := start
	for q := 0; name != "" && q < MaxTreeWalkQueries; q++ {
		f := d.record(ctx, name)
		if f.err != nil {
			return nil, f.err
		}
		if f.rec != nil {
			recs = append(recs, f.rec)
			if f.rec.PSD == "y" || f.rec.PSD == "n" {
				break
			}
		}
		// Steps 4 and 7: one label less, or straight to seven labels.
		if n := labelCount(name); n >= 8 {
			name = lastLabels(name, 7)
		} else {
			name = parent(name)
		}
	}
	return recs, nil
}

// orgFromWalk selects the organisational domain from the records a tree
// walk from start found (RFC 9989 section 4.10.2): a record with psd=n is
// one; a psd=y record other than start's makes the name one label below
// it one; else the record with the fewest labels; else start itself.
func orgFromWalk(start string, recs []*Record) string {
	for _, r := range recs {
		if r.PSD == "n" {
			return r.Domain
		}
		if r.PSD == "y" && r.Domain != start {
			return lastLabels(start, labelCount(r.Domain)+1)
		}
	}
	if len(recs) > 0 {
		return recs[len(recs)-1].Domain
	}
	return start
}

// exists decides whether a domain exists for np= (RFC 9989 section
// 4.10.1). A *net.Resolver cannot tell NXDOMAIN from NODATA, so the
// domain is taken to exist when it has an A, AAAA or MX record, the test of
// RFC 9091 section 2.7; Options.Exists can do better.
func exists(ctx context.Context, res Resolver, domain string) (bool, error) {
	_, err := res.LookupIPAddr(ctx, domain+".")
	if err == nil {
		return true, nil
	}
	if !isNotFound(err) {
		return false, fmt.Errorf("%w: A/AAAA %s: %w", ErrDNS, domain, err)
	}
	_, err = res.LookupMX(ctx, domain+".")
	if err == nil {
		return true, nil
	}
	if !isNotFound(err) {
		return false, fmt.Errorf("%w: MX %s: %w", ErrDNS, domain, err)
	}
	return false, nil
}

// fqdn gives name a trailing dot, so that no search list applies.
func fqdn(name string) string {
	if name == "" || strings.HasSuffix(name, ".") {
		return name
	}
	return name + "."
}
