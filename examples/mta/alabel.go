package main

import (
	"context"
	"net"

	"github.com/smtpkit/smtpkit/smtputf8"
)

// aLabelResolver asks its resolver in A-labels whatever name it is given:
// the DMARC checks of an SMTPUTF8 message start from a UTF-8
// domain, and DNS lookups always use A-labels (RFC 6531 section 3.2, as
// Exim). Names that are ASCII, or do not convert, are asked as they are.
type aLabelResolver struct{ r *net.Resolver }

// aLabelDomain is normalizeDomain in A-labels (smtputf8.DomainToALabel),
// the form local domains are compared in and every DNS lookup uses.
func aLabelDomain(d string) string { return aLabel(normalizeDomain(d)) }

// aLabel converts name to A-labels, or returns it as it is when it does not
// convert.
func aLabel(name string) string {
	if a, err := smtputf8.DomainToALabel(name); err == nil {
		return a
	}
	return name
}

func (a aLabelResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return a.r.LookupTXT(ctx, aLabel(name))
}

func (a aLabelResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return a.r.LookupMX(ctx, aLabel(name))
}

func (a aLabelResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return a.r.LookupIPAddr(ctx, aLabel(host))
}

func (a aLabelResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return a.r.LookupAddr(ctx, addr)
}
