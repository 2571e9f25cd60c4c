// Package dnstest runs an in-process DNS server for tests, so that the SPF,
// DKIM, ARC, DMARC and DANE code and the MTA of smtpkit can be exercised
// over the real protocol against a DNS world built in a few lines:
//
//	srv := dnstest.Start(t, dnstest.Zone{Name: "example.test", Secure: true, Text: `
//		@            MX   10 mx
//		mx           A    192.0.2.25
//		@            TXT  "v=spf1 ip4:192.0.2.25 -all"
//		_dmarc       TXT  "v=DMARC1; p=reject"
//		_25._tcp.mx  TLSA 3 1 1 8755cdaa8fe24ef16cc0f2c918063185e433faaf1415664911d9e30a924138c4
//	`})
//	srv.SetMode("example.test", dnstest.ServFail(6, "DNSSEC Bogus"))
//	ips, err := srv.Resolver().LookupIPAddr(ctx, "mx.example.test.")
//
// The server listens on 127.0.0.1, UDP and TCP on one port (Server.Addr),
// and Server.Resolver returns a *net.Resolver wired to it. Clients of
// github.com/miekg/dns can send to Addr directly.
//
// # Zones
//
// Each Zone is zone file text (RFC 1035 section 5.1) with $ORIGIN set to
// the zone name and $TTL to DefaultTTL, so names without a trailing dot are
// relative to the zone. Reverse zones such as "2.0.192.in-addr.arpa" work
// the same way and serve Resolver().LookupAddr. A query is answered from
// the zone with the longest origin that holds its name, as a resolver
// would present the answer to a stub:
//
//   - records of the name and type asked for: NOERROR;
//   - a CNAME at the name: the CNAME, then the answer for its target,
//     followed across zones (RFC 1034 section 3.6.2);
//   - a name that exists with other types only, or has descendants only
//     (an empty non-terminal such as _tcp.mx.example.test beside
//     _25._tcp.mx.example.test): NODATA, that is NOERROR with no answer
//     and the zone's SOA in the authority section (RFC 2308 section 2.2,
//     RFC 8020);
//   - a name that does not exist: NXDOMAIN with the SOA (RFC 2308
//     section 2.1), unless a wildcard such as *.example.test covers it
//     (RFC 4592);
//   - a name under no zone: NXDOMAIN, never secure.
//
// # Modes
//
// Every zone has modes that Server.SetMode changes while the server runs:
// Secure and Insecure set or clear the AD bit on all its answers, positive
// and negative; ServFail answers SERVFAIL with an Extended DNS Error (RFC
// 8914); Drop never answers, so clients time out; Delay answers late;
// Normal undoes ServFail, Drop and Delay.
//
// # Transport
//
// A query with an OPT record gets one back with its UDP size and DO bit
// echoed (RFC 6891). A UDP answer larger than the client's limit (512
// bytes without EDNS, else its advertised size) is truncated with TC set,
// and clients retry over TCP, so long TXT records such as 2048-bit DKIM
// keys work. Server.Queries logs every query received, for tests that
// count lookups.
package dnstest
