// Package proxyproto receives SMTP connections through a load balancer
// that speaks HAProxy's PROXY protocol, v1 or v2.
//
// Exim calls it "Proxy Protocol Support", with the hosts_proxy /
// proxy_required_hosts option and the $proxy_* variables. Section numbers
// refer to the protocol specification,
// https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt. A go-smtp
// server turns it on with a listener and a backend wrapper:
//
//	hosts, err := proxyproto.ParseHosts("10.0.0.0/8") // the load balancers
//	pln := proxyproto.NewListener(ln, &proxyproto.Options{RequiredHosts: hosts})
//	srv := smtp.NewServer(proxyproto.NewBackend(myBackend))
//	go srv.Serve(pln)
//
// # What it does
//
// [NewListener] wraps a net.Listener. Each accepted connection is a
// [*Conn]:
//
//   - When its remote address is a required host ([Options].RequiredHosts,
//     CIDR prefixes of IPv4 or IPv6, plus the [Options].IsRequired
//     callback for lists that live elsewhere), it must start with a
//     header: v1 (section 2.1, TCP4, TCP6, UNKNOWN) or v2 (section 2.2,
//     PROXY or LOCAL, TLVs). The header is read before anything else,
//     TLS included, so TLS on connect (port 465) behind a proxy works:
//     put tls.NewListener above the Listener.
//   - The header must arrive within [Options].Timeout ([DefaultTimeout],
//     3 s, as Exim), counted from Accept. Accept itself never reads: the
//     connection's first Read, Write or RemoteAddr reads the header, in
//     the goroutine that serves the connection, so a slow proxy
//     (slowloris) never holds up the others.
//   - RemoteAddr is then the original client and LocalAddr the address it
//     connected to at the proxy; NetConn returns the socket. [Conn.Info]
//     (or [FromConn], which walks NetConn() chains through *tls.Conn)
//     gives what Exim calls $proxy_session (Proxied),
//     $proxy_host_address/_port (ProxyAddr), $proxy_target_address/_port
//     (TargetAddr), and the v2 TLVs, with PP2_TYPE_AUTHORITY and
//     PP2_TYPE_SSL decoded (sections 2.2.2 and 2.2.5).
//   - A LOCAL command (section 2.2), v1 UNKNOWN (section 2.1) and v2
//     families other than TCP (UNIX, UDP) are accepted with the socket's
//     own addresses kept (Info.Local), as the specification asks. A LOCAL
//     header's family byte and block are skipped unread, whatever they
//     hold ("discard the protocol block including the family"), up to
//     the bound of every v2 block (4096 bytes, go-proxyproto's
//     MaxV2HeaderSize). A v2
//     PROXY command with the UNSPEC family is refused, which section 2.2
//     allows.
//
// # Hosts that are not required
//
// A connection from any other host is passed through untouched: no header
// is looked for, and one that is sent anyway is not believed. It stays
// data, so an SMTP server answers it with a 5xx syntax error and sees the
// real address. This is what Exim does, and the only safe choice: a
// header is a claim about someone else's address that only a trusted
// proxy may make (section 7, "Security considerations"). Refusing the
// connection instead would gain nothing, since the claim is never used.
//
// # A required host without a valid header
//
// As in Exim, the connection is not dropped: once the timeout passes (or
// at once for an invalid header, whose bytes are discarded) the server's
// banner goes out, then every command but QUIT gets
//
//	503 5.7.0 Command refused, required Proxy negotiation failed
//
// and QUIT gets the server's 221. The Conn does this itself for
// plaintext SMTP, where the server speaks first, so go-smtp never sees
// the commands. When a layer above reads first (TLS on connect), the
// Conn cannot see SMTP lines; [NewBackend] then refuses the go-smtp
// session at EHLO/HELO with [ErrNegotiationFailed], and go-smtp answers
// 502 to MAIL, RCPT and DATA, which have no session. Use both.
//
// # Wiring into a go-smtp server
//
//	hosts, err := proxyproto.ParseHosts(flagProxyRequiredHosts) // "10.0.0.0/8, 2001:db8::/32"
//	ln, err := net.Listen("tcp", addr)
//	pln := proxyproto.NewListener(ln, &proxyproto.Options{
//		RequiredHosts: hosts,
//		Timeout:       flagProxyTimeout, // 0: 3 s
//		Logger:        logger,
//	})
//	srv := smtp.NewServer(proxyproto.NewBackend(be))
//	go srv.Serve(pln)
//
// In the backend, c.Conn().RemoteAddr() is already the original client
// (for Received headers, SPF, relay checks); for a log field such as
// Exim's PRX=<proxy ip>:
//
//	if info, ok := proxyproto.FromConn(c.Conn()); ok && info.Proxied {
//		attrs = append(attrs, slog.String("PRX", info.ProxyAddr.Addr().String()))
//	}
//
// # Parsing
//
// Header parsing is github.com/pires/go-proxyproto's (v0.15.0), which
// covers v1, v2, TLVs and their SSL sub-records. Its Listener is not
// used: its policy and failure handling are not Exim's. Around its
// parser this package adds a v1 header arriving in several segments
// (go-proxyproto refuses one; section 2.1 recommends tolerance), the
// timeout from Accept with context cancellation, and the policy. The
// CRC32C TLV (section 2.2.3) is exposed but not checked ("MAY").
package proxyproto
