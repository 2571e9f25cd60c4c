package spf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/smtpkit/smtpkit/internal/idnaconv"
)

const (
	// DefaultLookupLimit is the number of DNS-querying terms (include, a,
	// mx, ptr, exists, redirect) one check may evaluate; one more is a
	// permerror (RFC 7208 section 4.6.4, which makes 10 a MUST).
	DefaultLookupLimit = 10

	// DefaultVoidLookupLimit is the number of lookups answered with
	// NXDOMAIN or no records that one check tolerates; one more is a
	// permerror (RFC 7208 section 4.6.4 recommends two).
	DefaultVoidLookupLimit = 2

	// DefaultTimeout bounds one check, exp= lookup included; past it the
	// result is temperror (RFC 7208 section 4.6.4: at least 20 seconds).
	DefaultTimeout = 20 * time.Second

	// DefaultGuess is the best-guess record evaluated for a domain that
	// publishes none, Exim's spf_guess default.
	DefaultGuess = "v=spf1 a/24 mx/24 ptr ?all"

	// DefaultExplanation is the explanation (an explain-string, RFC 7208
	// section 6.2, with its macros) used when the domain publishes no
	// exp=; it is Exim's spf_smtp_comment_template default.
	DefaultExplanation = "Please%_see%_http://www.open-spf.org/Why"
)

// ErrInvalidIP is wrapped by Outcome.Err and Lookup's error when the
// client address is not a valid IP address.
var ErrInvalidIP = errors.New("invalid client IP address")

// ErrInvalidDomain is wrapped by Outcome.Err when the domain to check is
// not a usable multi-label domain name, which makes the result none (RFC
// 7208 section 4.3).
var ErrInvalidDomain = errors.New("no usable domain")

// Options configure a Checker. The zero value checks as RFC 7208
// recommends, with net.DefaultResolver.
type Options struct {
	// Resolver answers the DNS queries; nil means net.DefaultResolver.
	Resolver Resolver

	// LookupLimit is the number of DNS-querying terms allowed; 0 means
	// DefaultLookupLimit, a negative value none at all.
	LookupLimit int

	// VoidLookupLimit is the number of void lookups allowed; 0 means
	// DefaultVoidLookupLimit, a negative value none at all.
	VoidLookupLimit int

	// Timeout bounds each check, on top of the caller's context; 0 means
	// DefaultTimeout.
	Timeout time.Duration

	// Receiver is the host name of this receiver: the receiver key of
	// Received-SPF, the start of the header comment and the %{r} macro
	// (RFC 7208 section 7.2, "unknown" when empty).
	Receiver string

	// Guess evaluates GuessRecord for a domain that publishes no SPF
	// record, as Exim's spf_guess condition does. The Outcome then has
	// Guessed set and its header is X-SPF-Guess.
	Guess bool

	// GuessRecord is the best-guess record; "" means DefaultGuess.
	GuessRecord string

	// Explanation is the explain-string (RFC 7208 section 6.2, macros
	// allowed) for the SMTP comment when the domain publishes no exp=;
	// "" means DefaultExplanation. It plays the part of Exim's
	// spf_smtp_comment_template.
	Explanation string
}

// A Checker runs SPF checks (RFC 7208 section 4, check_host()). It is
// safe for concurrent use.
type Checker struct {
	res         Resolver
	lookups     uint
	voids       uint
	timeout     time.Duration
	receiver    string
	guess       string // "" when best-guess is off
	explanation string
	now         func() time.Time // the %{t} macro; tests replace it
}

// New returns a Checker with the given options; nil means the zero
// Options.
func New(opts *Options) *Checker {
	var o Options
	if opts != nil {
		o = *opts
	}
	c := &Checker{
		res:         o.Resolver,
		lookups:     limit(o.LookupLimit, DefaultLookupLimit),
		voids:       limit(o.VoidLookupLimit, DefaultVoidLookupLimit),
		timeout:     o.Timeout,
		receiver:    o.Receiver,
		explanation: o.Explanation,
		now:         time.Now,
	}
	if c.res == nil {
		c.res = net.DefaultResolver
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if o.Guess {
		c.guess = o.GuessRecord
		if c.guess == "" {
			c.guess = DefaultGuess
		}
	}
	if c.explanation == "" {
		c.explanation = DefaultExplanation
	}
	return c
}

func limit(v, def int) uint {
	switch {
	case v == 0:
		return uint(def)
	case v < 0:
		return 0
	}
	return uint(v)
}

// CheckMailFrom checks the MAIL FROM identity (RFC 7208 section 2.4) of a
// client at ip that said helo. A null reverse-path, sender "", is checked
// as postmaster@helo (section 2.4 and section 4.3), and so is a sender
// without a domain. The Outcome is never nil; DNS trouble is in it as
// temperror, not returned as an error.
func (c *Checker) CheckMailFrom(ctx context.Context, ip netip.Addr, helo, sender string) *Outcome {
	return c.check(ctx, ip, helo, sender, MailFrom)
}

// CheckHELO checks the HELO identity (RFC 7208 section 2.3): helo's own
// record, with postmaster@helo as <sender>. An address literal such as
// "[192.0.2.1]" is not a domain, so its result is none.
func (c *Checker) CheckHELO(ctx context.Context, ip netip.Addr, helo string) *Outcome {
	return c.check(ctx, ip, helo, "", HELO)
}

// Lookup is Exim's ${lookup {user@domain} spf {ip}}: it checks key, an
// address or a bare domain, for a client at ip (IPv4 or IPv6; Exim takes
// IPv4 only) and returns the result word. The domain stands in for the
// HELO name. The error is only for an ip that does not parse.
func (c *Checker) Lookup(ctx context.Context, key, ip string) (Result, error) {
	addr, err := netip.ParseAddr(strings.Trim(ip, "[]"))
	if err != nil {
		return PermError, fmt.Errorf("spf: lookup %q: %w: %w", ip, ErrInvalidIP, err)
	}
	sender := key
	if !strings.Contains(key, "@") {
		sender = "postmaster@" + key
	}
	_, domain := splitAddr(sender)
	return c.check(ctx, addr, domain, sender, MailFrom).Result, nil
}

// splitAddr splits an address at its last "@", which is the one before
// the domain even when a quoted local-part holds another.
func splitAddr(addr string) (local, domain string) {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return "", addr
	}
	return addr[:i], addr[i+1:]
}

func (c *Checker) check(ctx context.Context, ip netip.Addr, helo, sender string, id Identity) *Outcome {
	// RFC 7208 section 5: an IPv4-mapped client is an IPv4 client; a
	// zone names an interface here, not part of the address.
	ip = ip.Unmap().WithZone("")
	o := &Outcome{Identity: id, IP: ip, HELO: helo, Sender: sender, Receiver: c.receiver}
	defer c.describe(o)

	// RFC 7208 section 2.3 and section 2.4: the HELO identity, and a null
	// reverse-path, are checked as postmaster@<HELO name>, the name taken
	// whole (one with an "@" is no domain, section 4.3); section 4.3: a
	// missing local-part is "postmaster".
	local, domain := "postmaster", helo
	if id != HELO && strings.Contains(sender, "@") {
		local, domain = splitAddr(sender)
		if local == "" {
			local = "postmaster"
		}
	}
	// RFC 8616 section 3: a domain with U-labels (SMTPUTF8) is looked up,
	// and expanded in macros, as its A-labels; one that is no valid IDN
	// is malformed (section 4.3).
	domain, idnErr := toASCII(strings.TrimSuffix(domain, "."))
	if h, err := toASCII(helo); err == nil {
		helo = h
	}
	o.Domain = domain
	o.env = macroEnv{
		sender:   local + "@" + domain,
		local:    local,
		origin:   domain,
		domain:   domain,
		ip:       ip,
		helo:     helo,
		receiver: c.receiver,
	}

	if !ip.IsValid() {
		o.Result, o.Err = PermError, fmt.Errorf("spf: check %s: %w", domain, ErrInvalidIP)
		return o
	}
	if idnErr != nil || !validDomain(domain) {
		// Section 4.3: a malformed or single-label domain is "none".
		o.Result, o.Err = None, fmt.Errorf("spf: check %q: %w", domain, ErrInvalidDomain)
		if idnErr != nil {
			o.Err = fmt.Errorf("%w: %w", o.Err, idnErr)
		}
		return o
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	// Section 4.4: the record lookup. A domain without a record gets
	// the best-guess record when that is on.
	txts, err := c.res.LookupTXT(ctx, fqdn(domain))
	txt, v := selectRecord(txts, err)
	if c.guess != "" && v.result == None {
		txt, v = c.guess, verdict{}
		o.Guessed = true
	}
	e := &evaluator{res: c.res, env: o.env, maxLookup: c.lookups, maxVoid: c.voids}
	if v.result == "" {
		v = e.evalRecord(ctx, domain, txt)
	}
	o.Result = v.result
	if cerr := ctx.Err(); cerr != nil {
		// Section 4.6.4: a check that ran out of time is a temperror,
		// whatever the lookups it could still make said.
		o.Result, v.err = TempError, cerr
	}
	switch o.Result {
	case TempError, PermError:
		o.Err = fmt.Errorf("spf: check %s: %w", domain, v.err)
		return o
	case None:
		return o
	}
	o.Mechanism = v.mechanism

	// Section 6.2: the explanation, for a fail only. The best-guess
	// record is ours, so it has none.
	if o.Result == Fail && !o.Guessed {
		o.Explanation = c.explain(ctx, o, v.rec, v.domain)
	}
	return o
}

// validDomain reports whether d is a domain RFC 7208 section 4.3 lets a
// check use: multi-label, with labels of 1 to 63 octets and no white
// space, control characters or "@", 253 octets at most, and not an address:
// no address literal, and a last label that is not all digits (the
// toplabel of section 7.1).
func validDomain(d string) bool {
	if len(d) == 0 || len(d) > maxDomainLen || !strings.Contains(d, ".") || d[0] == '[' {
		return false
	}
	last := ""
	for label := range strings.SplitSeq(d, ".") {
		if len(label) == 0 || len(label) > 63 {
			return false
		}
		last = label
	}
	if strings.Trim(last, "0123456789") == "" {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] <= ' ' || d[i] == 0x7f || d[i] == '@' {
			return false
		}
	}
	return true
}

// toASCII turns the U-labels of a domain into A-labels (RFC 5891 section
// 5) by the conversion smtputf8 and dmarc use too (internal/idnaconv:
// UTS 46 mapping, IDNA2008 code points); an ASCII name is returned as it
// is.
func toASCII(d string) (string, error) {
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			a, err := idnaconv.ToASCII(d)
			if err != nil {
				return d, fmt.Errorf("IDNA: %w", err)
			}
			return a, nil
		}
	}
	return d, nil
}

// netipFromIP converts a net.IP, unmapping IPv4 in IPv6.
func netipFromIP(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip)
	return a.Unmap(), ok
}
