package dnstest

import (
	"time"

	"github.com/miekg/dns"
)

// A Mode changes one aspect of how the server answers for a zone. Pass
// modes to Server.SetMode; aspects a mode does not touch stay as they are.
type Mode struct {
	apply func(*behaviour)
}

// behaviour is how a zone is answered for.
type behaviour struct {
	secure bool           // set AD
	fail   *dns.EDNS0_EDE // answer SERVFAIL with this EDE
	drop   bool           // never answer
	delay  time.Duration  // answer late
}

// Secure sets the AD bit on every answer from the zone, positive or
// negative, whatever the query's DO and AD bits (RFC 4035 section 3.2.3).
func Secure() Mode { return Mode{func(b *behaviour) { b.secure = true }} }

// Insecure clears the AD bit on answers from the zone.
func Insecure() Mode { return Mode{func(b *behaviour) { b.secure = false }} }

// ServFail answers every query for the zone with SERVFAIL carrying an
// Extended DNS Error (RFC 8914 section 2) with the given info code and
// extra text, such as 6 and "DNSSEC Bogus" (RFC 8914 section 4.7). It
// replaces Drop.
func ServFail(infoCode uint16, extraText string) Mode {
	return Mode{func(b *behaviour) {
		b.fail = &dns.EDNS0_EDE{InfoCode: infoCode, ExtraText: extraText}
		b.drop = false
	}}
}

// Drop makes the server ignore queries for the zone, so that clients time
// out. It replaces ServFail. A *net.Resolver retries for as long as
// /etc/resolv.conf says (seconds), so give it a context with a deadline.
func Drop() Mode {
	return Mode{func(b *behaviour) { b.drop, b.fail = true, nil }}
}

// Delay makes the server wait d before answering for the zone. Delay(0)
// answers at once again.
func Delay(d time.Duration) Mode { return Mode{func(b *behaviour) { b.delay = d }} }

// Normal undoes ServFail, Drop and Delay: the zone is answered from its
// records at once. It leaves Secure or Insecure as it was.
func Normal() Mode {
	return Mode{func(b *behaviour) { b.fail, b.drop, b.delay = nil, false, 0 }}
}

// combine folds the behaviour of another zone consulted for the same
// answer, as when a CNAME chain leaves one zone for another: a validating
// resolver sets AD only if all the data is secure (RFC 4035 section 3.2.3),
// and fails if any step fails.
func (b *behaviour) combine(o behaviour) {
	b.secure = b.secure && o.secure
	if b.fail == nil {
		b.fail = o.fail
	}
	b.drop = b.drop || o.drop
	b.delay = max(b.delay, o.delay)
}
