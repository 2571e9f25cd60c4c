package proxyproto

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"
)

// DefaultTimeout is how long a required host has to send its header, as
// Exim's proxy_protocol_timeout default.
const DefaultTimeout = 3 * time.Second

// Options configure a Listener. The zero value requires no host, so no
// header is ever read or believed: every connection passes through as is.
type Options struct {
	// RequiredHosts is Exim's proxy_required_hosts (hosts_proxy): the
	// proxies, as CIDR prefixes (IPv4 or IPv6; a single address is a /32
	// or /128), whose connections must start with a PROXY header.
	// ParseHosts reads the textual form.
	RequiredHosts []netip.Prefix
	// IsRequired, if set, is asked about a connection's remote address
	// that no prefix of RequiredHosts matches: the hook for host lists
	// that are looked up or change at run time.
	IsRequired func(netip.Addr) bool
	// Timeout bounds the wait for the header, counted from Accept;
	// zero means DefaultTimeout.
	Timeout time.Duration
	// Logger receives a Debug line per header and a Warn line per failed
	// negotiation; nil means slog.Default().
	Logger *slog.Logger
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// required applies the policy to a remote address.
func (o *Options) required(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range o.RequiredHosts {
		if p.Contains(a) {
			return true
		}
	}
	return o.IsRequired != nil && o.IsRequired(a)
}

// ParseHosts parses a host list: IP addresses and CIDR prefixes, IPv4 or
// IPv6, separated by commas or white space (so that IPv6 needs no
// escaping, unlike Exim's colon-separated lists). An address stands for
// itself (/32 or /128); IPv4-mapped IPv6 addresses are unmapped.
func ParseHosts(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(list, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n'
	}) {
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("proxyproto: host list: %w", err)
			}
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("proxyproto: host list: %w", err)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
