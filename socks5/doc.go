// Package socks5 sends outbound SMTP through SOCKS5 proxies (RFC 1928),
// with username/password authentication (RFC 1929), as Exim's smtp
// transport does with its socks_proxy option.
//
// With the client engine (smtpkit/client):
//
//	proxies, err := socks5.ParseProxies("192.0.2.1 auth=name name=u pass=p : 192.0.2.2")
//	c, err := client.Dial(ctx, mxAddr, &client.Options{Dialer: &socks5.Dialer{Proxies: proxies}})
//
// # The proxy list
//
// [ParseProxies] reads Exim's socks_proxy syntax: a colon-separated list
// of proxy specs, each an IP address followed by space-separated options
//
//	IP [auth=none|name] [name=U] [pass=P] [port=1080] [tmo=5] [pri=N] [weight=N]
//
// IPv6 addresses follow Exim's list rules (a doubled colon is a literal
// one, "::::1", or another separator with "<;": "<; ::1 port=1080 ;
// 192.0.2.1"), or go in brackets after "<;". Each element is a [Proxy].
//
// # Dialing
//
// A [Dialer] has the shape of golang.org/x/net/proxy.ContextDialer and of
// the client engine's Dialer. DialContext tries the proxies by priority
// (higher pri first), within a priority in list order or, when weights
// are set, in a random order biased by weight, until one of them connects
// the target: TCP to the proxy, method selection offering the configured
// method only (section 3), RFC 1929 subnegotiation for auth=name, CONNECT
// (section 4) with an IPv4, IPv6 or domain-name target (section 5), and
// the reply (section 6). Each attempt is bounded by the proxy's tmo, and
// the whole by the caller's context, which interrupts the exchange at
// once.
//
// A failed attempt is an [*Error] naming the proxy ("host:port", never the
// password) and the step: "connect", "method" ([ErrNoAcceptableMethod]),
// "auth" ([ErrAuthRefused]) or "request" (the proxy's [Reply], such as
// ReplyConnectionRefused, or a network error). When all fail, the error
// wraps every attempt's, in order, so errors.Is and errors.As find them;
// the message lists them all.
//
// The returned connection is a [*Conn]: RemoteAddr is the proxy's
// address (what Exim reports for tcp:connect events), [Conn.Proxy] the
// proxy used, [Conn.BoundAddr] the proxy's end of its connection to the
// target (what the target sees), NetConn the TCP connection to the proxy.
// [ProxyOf] finds it below wrappers such as *tls.Conn.
//
// # Wiring into the client engine
//
//	proxies, err := socks5.ParseProxies(flagSocks) // "192.0.2.1 auth=name name=u pass=p : 192.0.2.2"
//	d := &socks5.Dialer{Proxies: proxies, Logger: logger}
//	c, err := client.Dial(ctx, mxAddr, &client.Options{Hostname: name, Dialer: d})
//
// c.RemoteAddr() is then the proxy's "host:port", equal to the Addr of
// the Proxy used: log it as the proxy of the delivery. When every proxy
// fails, client.Dial returns the error above, which a queue treats as a
// temporary failure of the host (Exim defers).
//
// # Why not golang.org/x/net/proxy
//
// Its SOCKS5 client fits the exchange but not the reporting: failures
// are formatted strings (no reply code, no step, nothing for errors.Is
// or errors.As to tell "auth refused" from "connection refused"), the
// bound address is not exposed, it always offers "no authentication"
// beside username/password, and a list with failover, priorities and
// per-proxy timeouts would still have to be built around it. The RFC
// 1928/1929 client side is small, so it is written here.
package socks5
