// Package dane authenticates the servers outbound SMTP connects to with
// DANE (RFC 7672, with the operational rules of RFC 7671), as Exim's
// hosts_try_dane and hosts_require_dane do.
//
// TLSA records published over DNSSEC say which certificate or trust
// anchor a destination's TLS server must present. With the client engine
// (smtpkit/client), per MX host:
//
//	res := &dane.Resolver{} // a validating resolver, such as unbound on loopback
//	mx, err := res.LookupMX(ctx, domain)
//	p, err := dane.Lookup(ctx, dane.Destination{Host: mx.Hosts[0].Host, NextHop: domain,
//		MXInsecure: !mx.Secure}, &dane.Options{Mode: dane.Try, Resolver: res})
//	opts.TLSConfig = p.TLSConfig(nil) // opts: the client.Options for p.Addrs
//
// # DNS
//
// [Resolver] asks a validating resolver (unbound, for instance) with the
// AD bit and EDNS0, and reports each [Answer] as secure or not. Like Exim
// and Postfix it trusts the AD bit instead of validating signatures, and
// only from a resolver on loopback or one marked Resolver.Trusted.
// SERVFAIL (a bogus answer), REFUSED and timeouts are a *[LookupError],
// with the Extended DNS Error code when the resolver gave one (RFC 8914);
// NXDOMAIN and NODATA are answers, and with AD an authenticated denial.
//
// # Policy per host
//
// [Resolver.LookupMX] gives a domain's MX hosts and whether the MX RRset
// is secure. [Lookup] then decides, for one host, what RFC 7672 section
// 2.2 asks ([Action]):
//
//   - secure, usable TLSA records: [Authenticate]; TLS is mandatory and
//     must verify, or the host is skipped (next MX, else defer), never a
//     fallback to unauthenticated TLS or plaintext;
//   - secure TLSA records, none usable: [MandatoryTLS], unauthenticated;
//   - insecure records, or an authenticated denial of TLSA:
//     [Opportunistic] under [Try], an error ([ErrNotSecure], [ErrNoTLSA])
//     under [Require];
//   - a failed lookup: an error under both modes.
//
// Address records come first, and TLSA records are only looked up when
// they are secure (section 2.2.2); with a secure CNAME chain the expanded
// name's "_25._tcp" TLSA RRset is tried before the original name's; a
// CNAME at the TLSA owner itself is followed without changing the base
// domain. An IP address (or address literal) is never a DANE host.
// [Usable] drops PKIX-TA(0) and PKIX-EE(1) (section 3.1.3), unknown
// selectors and matching types, malformed digests, and applies digest
// agility (RFC 7671 section 9).
//
// # Verification
//
// [Policy.TLSConfig] returns the tls.Config for STARTTLS: ServerName (SNI)
// is the TLSA base domain, Go's PKIX check is off, and VerifyConnection
// checks the chain against the records: DANE-EE(3) matches the server's
// own certificate, with no name or date check; DANE-TA(2) matches a
// certificate the server sent above its own (or, for "2 1 0", any
// certificate signed by that key, sent or not), then the chain below it
// is verified with dates, and the server certificate must name a
// reference identifier (the base domain, the MX host, and with a secure
// MX the next-hop domain): DNS-ID subjectAltNames, the CN only without
// any, a wildcard as a whole leftmost label matching one label. A
// VerifyConnection already set on the base config (an OCSP check) runs
// after DANE's, and also sees the session.
//
// [Policy.Result] tells what to log, with Exim's names: CV=dane|yes|no,
// $tls_out_dane ([Result.Verified]), $tls_out_tlsa_usage
// ([Result.Usages], bit N for usage N) and the matched record.
// [NewRecord] prints the TLSA record of a certificate ("3 1 1 ...",
// "2 1 1 ...") as Exim's documentation does with openssl.
//
// # Exim's behaviour, and where this package differs
//
//	case                                   Try                 Require
//	secure 3 1 1 / 3 1 2 / 2 0 1 / 2 1 1   DANE, CV=dane       DANE, CV=dane
//	TLSA lookup SERVFAIL                   defer (error)       defer (error)
//	no TLSA (insecure, secure denial)      TLS, CV=yes|no      defer (ErrNoTLSA)
//	secure TLSA that does not match        defer, no fallback  defer
//	insecure A, secure TLSA                TLS, CV=yes|no      defer (ErrNotSecure)
//	DANE-TA with a name mismatch           defer (ErrName)     defer
//	DANE-EE with a name mismatch           CV=dane             CV=dane
//
// Where DANE is required and no usable TLSA records exist, Exim bounces
// the message; this package returns an error that the caller must treat
// as temporary, as RFC 7672 section 6 and Postfix (4.7.5) do. Every error
// of this package means "this host, not now".
//
// # Wiring into the client engine
//
// Per recipient domain and MX host, with client (smtpkit/client):
//
//	mx, err := res.LookupMX(ctx, domain)          // err: defer the domain
//	for _, h := range mx.Hosts {
//		p, err := dane.Lookup(ctx, dane.Destination{Host: h.Host, NextHop: domain,
//			NextHopExpanded: mx.Expanded, MXInsecure: !mx.Secure},
//			&dane.Options{Mode: mode, Resolver: res})
//		if err != nil { continue }               // next MX, else defer
//		opts.TLSConfig = p.TLSConfig(base)       // base: InsecureSkipVerify for opportunistic TLS
//		opts.TLSPolicy = client.TLSOpportunistic
//		if p.TLSRequired() { opts.TLSPolicy = client.TLSRequired }
//		for _, ip := range p.Addrs { c, err := client.Dial(ctx, netip.AddrPortFrom(ip, 25).String(), opts) ... }
//		log: p.Result() (CV=, dane, tlsa_usage, tlsa)
//	}
//
// The tls.Config carries the TLSA base domain as ServerName, so the client
// engine does not replace it with the dialled address. With Exim's
// default, OCSP is requested only when a DANE-TA record is present:
// UsageBits(p.Usable)&(1<<dane.DANETA) != 0 (the ocsp package takes the
// bit field). Nothing in the server changes for DANE: publish
// NewRecord(cert, 3, 1, 1) at _25._tcp.<mx host>.
package dane
