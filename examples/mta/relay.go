package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/dane"
	"github.com/smtpkit/smtpkit/events"
	"github.com/smtpkit/smtpkit/ocsp"
	"github.com/smtpkit/smtpkit/pipeconnect"
	"github.com/smtpkit/smtpkit/prdr"
	"github.com/smtpkit/smtpkit/requiretls"
	"github.com/smtpkit/smtpkit/smtputf8"
	"github.com/smtpkit/smtpkit/socks5"
)

// Connection reuse limits for outbound delivery.
const (
	maxMessagesPerConn = 100
	maxIdlePerConn     = 30 * time.Second
)

// relay delivers spooled messages to remote hosts through the client
// engine: a smarthost, or the destination's MX hosts in preference order
// (RFC 5321 section 5.1), each of their addresses in turn. With -dane the
// MX, address and TLSA lookups go through a validating resolver and each
// host gets a dane.Policy (RFC 7672); with -ocsp the server's staple is
// checked; with -events-* the attempts raise events (Exim's event_action).
type relay struct {
	hostname  string
	resolver  *net.Resolver
	smarthost string // host:port, or "" for MX delivery
	authUser  string
	authPass  string
	// authRoots verify the smarthost's certificate before AUTH; nil
	// means the system's roots (-smarthost-ca).
	authRoots   *x509.CertPool
	hostsMaxTry int // -hosts-max-try: addresses tried per attempt
	port        int
	socks       []socks5.Proxy      // -socks: outbound through these proxies
	arcSign     *arcSigner          // -arc-sign: seal what we relay
	prdr        bool                // -prdr: request PRDR
	pipeconnect *pipeconnect.Client // -pipeconnect: early EHLO from the cache
	roots       *x509.CertPool      // nil: the system's; verification is recorded, not enforced
	dane        dane.Mode           // -dane, for MX delivery
	daneDNS     *dane.Resolver      // -dns (and -dns-trusted), asked with the AD bit
	ocsp        ocsp.Mode           // -ocsp
	events      *events.Emitter
	spool       *spool
	log         *slog.Logger
	pool        connPool
}

// hostError is a routing failure for every recipient of a domain.
type hostError struct {
	perm  bool
	reply string
}

func (e *hostError) Error() string { return e.reply }

// target is one host to try for a domain, and for DANE how it was found.
type target struct {
	host string
	dest dane.Destination
}

// hosts returns the hosts to try for domain (in A-labels), best first.
// A REQUIRETLS message needs to know whether its MX answer was DNSSEC-
// secure (RFC 8689 section 4.2.1 step 1): it is asked as with -dane.
func (rl *relay) hosts(ctx context.Context, domain string, requireTLS bool) ([]target, error) {
	if rl.smarthost != "" {
		host, _, _ := net.SplitHostPort(rl.smarthost)
		return []target{{host: host}}, nil
	}
	if rl.dane != dane.Off || requireTLS {
		return rl.daneHosts(ctx, domain)
	}
	mxs, err := rl.resolver.LookupMX(ctx, domain)
	var de *net.DNSError
	switch {
	case errors.As(err, &de) && de.IsNotFound:
		// RFC 5321 section 5.1: no MX records, the domain is its own MX.
		return []target{{host: domain}}, nil
	case err != nil:
		return nil, &hostError{reply: "451 4.4.3 MX lookup for " + domain + " failed: " + err.Error()}
	}
	if len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == "") {
		return nil, nullMX(domain)
	}
	hosts := make([]target, 0, len(mxs))
	for _, mx := range mxs { // LookupMX sorts by preference
		if h := strings.TrimSuffix(mx.Host, "."); h != "" {
			hosts = append(hosts, target{host: h})
		}
	}
	return hosts, nil
}

// RFC 7505 section 3: a null MX says the domain accepts no mail.
func nullMX(domain string) error {
	return &hostError{perm: true, reply: "556 5.1.10 Domain " + domain + " does not accept mail (null MX)"}
}

// daneHosts looks the MX hosts up through the validating resolver, so that
// each carries whether its MX RRset was secure (RFC 7672 section 2.2.1).
func (rl *relay) daneHosts(ctx context.Context, domain string) ([]target, error) {
	mx, err := rl.daneDNS.LookupMX(ctx, domain)
	if err != nil {
		// RFC 7672 section 2.1.1: a failed lookup defers, never a
		// fallback to unauthenticated delivery.
		return nil, &hostError{reply: "451 4.4.3 MX lookup for " + domain + " failed: " + err.Error()}
	}
	if mx.Null {
		return nil, nullMX(domain)
	}
	hosts := make([]target, 0, len(mx.Hosts))
	for _, h := range mx.Hosts {
		hosts = append(hosts, target{host: strings.TrimSuffix(h.Host, "."), dest: dane.Destination{
			Host: h.Host, NextHop: domain, NextHopExpanded: mx.Expanded, MXInsecure: !mx.Secure,
		}})
	}
	return hosts, nil
}

// route returns host:port for each address of a target and the TLS policy
// for its connections: with -dane the host's DANE policy from its address
// and TLSA records, otherwise opportunistic TLS. A TLS-Required: No
// message ignores DANE (RFC 8689 section 4.2.2).
func (rl *relay) route(ctx context.Context, t target, mode tlsMode) ([]string, *dane.Policy, error) {
	if rl.dane == dane.Off || rl.smarthost != "" || mode == tlsRelaxed {
		addrs, err := rl.addrs(ctx, t.host)
		if err != nil {
			return nil, nil, err
		}
		p, _ := dane.Lookup(ctx, dane.Destination{Host: t.host}, nil) // Off: asks nothing
		return addrs, p, nil
	}
	// RFC 7672 section 2.2.3: the TLSA owner is "_port._tcp.host" for
	// the port dialled, -remote-port (Exim does the same).
	p, err := dane.Lookup(ctx, t.dest, &dane.Options{Mode: rl.dane, Resolver: rl.daneDNS, Logger: rl.log, Port: rl.port})
	switch {
	case errors.Is(err, dane.ErrNoAddress):
		return nil, nil, &hostError{perm: true, reply: "550 5.1.2 Host " + t.host + " has no address"}
	case errors.Is(err, dane.ErrLookup):
		return nil, nil, &hostError{reply: "451 4.4.3 DANE lookup for " + t.host + " failed: " + err.Error()}
	case err != nil:
		// ErrNotSecure, ErrNoTLSA under -dane require: RFC 7672 section
		// 6 and Postfix defer (Exim bounces).
		return nil, nil, &hostError{reply: "451 4.7.5 " + t.host + ": " + err.Error()}
	}
	port := uint16(rl.port)
	addrs := make([]string, 0, len(p.Addrs))
	for _, ip := range p.Addrs {
		addrs = append(addrs, netip.AddrPortFrom(ip, port).String())
	}
	return addrs, p, nil
}

// addrs returns host:port for each address of host.
func (rl *relay) addrs(ctx context.Context, host string) ([]string, error) {
	port := strconv.Itoa(rl.port)
	if rl.smarthost != "" {
		_, port, _ = net.SplitHostPort(rl.smarthost)
	}
	if ip := net.ParseIP(host); ip != nil {
		return []string{net.JoinHostPort(host, port)}, nil
	}
	ips, err := rl.resolver.LookupIPAddr(ctx, host)
	var de *net.DNSError
	switch {
	case errors.As(err, &de) && de.IsNotFound:
		return nil, &hostError{perm: true, reply: "550 5.1.2 Host " + host + " has no address"}
	case err != nil:
		return nil, &hostError{reply: "451 4.4.3 Address lookup for " + host + " failed: " + err.Error()}
	}
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, net.JoinHostPort(ip.IP.String(), port))
	}
	return out, nil
}

// attempt delivers to every due recipient of q once: grouped by domain
// (one group through a smarthost), host by host until each recipient has a
// reply. Recipients that only met errors stay pending with the last one.
func (rl *relay) attempt(ctx context.Context, q *queued, rcpts []*queuedRcpt) {
	groups := map[string][]*queuedRcpt{}
	var order []string
	for _, r := range rcpts {
		d := ""
		if rl.smarthost == "" {
			d = domainOf(r.Addr)
		}
		if _, ok := groups[d]; !ok {
			order = append(order, d)
		}
		groups[d] = append(groups[d], r)
	}
	for _, d := range order {
		rl.attemptDomain(ctx, q, d, groups[d])
	}
}

// domainOf is the domain of addr in A-labels, the form of every DNS
// lookup (MX, addresses, TLSA) whatever the address says.
func domainOf(addr string) string {
	return aLabelDomain(addr[strings.LastIndexByte(addr, '@')+1:])
}

func (rl *relay) attemptDomain(ctx context.Context, q *queued, domain string, rcpts []*queuedRcpt) {
	fail := func(he *hostError, rs []*queuedRcpt) {
		for _, r := range rs {
			r.LastReply = he.reply
			if he.perm {
				r.State = stateFailed
			}
		}
		rl.log.Info("delivery deferred", "id", q.ID, "domain", domain, "perm", he.perm, "reply", he.reply)
	}
	mode := modeOf(q)
	hosts, err := rl.hosts(ctx, domain, mode == tlsRequired)
	if err != nil {
		var he *hostError
		errors.As(err, &he)
		fail(he, rcpts)
		return
	}
	pending := rcpts
	last := &hostError{reply: "451 4.4.1 No host could be reached for " + domain}
	// Every host failed permanently: no address at all, or (REQUIRETLS)
	// not qualified to carry the message.
	allPerm := true
	// Exim's hosts_max_try: a domain whose hosts all fail costs at most
	// this many connection attempts; the rest wait for the next retry.
	maxTry := rl.hostsMaxTry
	if maxTry <= 0 {
		maxTry = defaultHostsMaxTry
	}
	tried := 0
hosts:
	for _, t := range hosts {
		addrs, policy, err := rl.route(ctx, t, mode)
		if err != nil {
			errors.As(err, &last)
			allPerm = allPerm && last.perm
			rl.log.Info("host skipped", "id", q.ID, "host", t.host, "err", err)
			continue
		}
		for _, addr := range addrs {
			if ctx.Err() != nil {
				return
			}
			if tried == maxTry {
				rl.log.Info("hosts_max_try reached", "id", q.ID, "domain", domain, "tried", tried)
				allPerm = false
				break hosts
			}
			tried++
			// The template of the events raised for this host
			// (events.NewContext); Exim's router and transport names.
			ev := events.Event{MessageID: q.ID, Sender: q.From, Domain: domain, Router: "dnslookup",
				Transport: "remote_smtp", Host: t.host, DNSSEC: policy.AddrSecure}
			if rl.smarthost != "" {
				ev.Router = "smarthost"
			}
			ev.HostAddr, _ = netip.ParseAddrPort(addr)
			done, err := rl.send(events.NewContext(ctx, ev), q, t, addr, policy, pending)
			if err == nil || done {
				return // every recipient has a reply from this host
			}
			var nq *notQualified
			if errors.As(err, &nq) {
				// RFC 8689 section 4.2.1: this host cannot take the
				// REQUIRETLS message; the next MX host may. Never a
				// retry in cleartext.
				last = &hostError{perm: true, reply: nq.reply}
				continue hosts
			}
			allPerm = false
			last = &hostError{reply: "451 4.4.2 " + t.host + " [" + addr + "]: " + err.Error()}
			var ae *authTLSError
			if errors.As(err, &ae) {
				last.reply = ae.reply + " (" + t.host + " [" + addr + "]: " + ae.err.Error() + ")"
			}
			if pending = stillPending(pending); len(pending) == 0 {
				return
			}
		}
		if len(addrs) == 0 {
			allPerm = false
		}
	}
	fail(&hostError{reply: last.reply, perm: allPerm}, pending)
}

// tlsMode is what a message asks of the TLS of its connections.
type tlsMode int

const (
	tlsUsual    tlsMode = iota // opportunistic, or as -dane and -ocsp say
	tlsRequired                // REQUIRETLS: requiretls.Delivery
	tlsRelaxed                 // TLS-Required: No: requiretls.RelaxedOptions
)

func modeOf(q *queued) tlsMode {
	switch {
	case q.RequireTLS:
		return tlsRequired
	case q.TLSOptional:
		return tlsRelaxed
	}
	return tlsUsual
}

// notQualified is a host that may not carry a REQUIRETLS message (RFC 8689
// section 4.2.1): reply is its 5.7.30 or 5.7.10.
type notQualified struct{ reply string }

func (e *notQualified) Error() string { return e.reply }

func stillPending(rs []*queuedRcpt) []*queuedRcpt {
	var out []*queuedRcpt
	for _, r := range rs {
		if r.State == statePending {
			out = append(out, r)
		}
	}
	return out
}

// send delivers q to rcpts over one connection to addr, reusing an idle
// one made under the same policy when there is. done reports that every
// recipient got a reply.
func (rl *relay) send(ctx context.Context, q *queued, t target, addr string, policy *dane.Policy, rcpts []*queuedRcpt) (done bool, err error) {
	host, mode := t.host, modeOf(q)
	key := poolKey(host, addr, policy, mode)
	pc := rl.pool.get(key)
	if pc != nil {
		done, err = rl.sendOn(ctx, q, host, pc, rcpts)
		var nq *notQualified
		if err == nil || done || anyAnswered(rcpts) || errors.As(err, &nq) {
			return done, err
		}
		// The idle connection had gone stale: try once on a new one.
	}
	// A configured smarthost is not an MX answer (RFC 8689 section
	// 4.2.1 step 1 is about those).
	insecureMX := t.dest.MXInsecure && rl.smarthost == ""
	pc, err = rl.dial(ctx, host, addr, policy, mode, insecureMX)
	if err != nil {
		rl.log.Info("connection failed", append([]any{"id", q.ID, "host", host, "addr", addr, "err", err}, pc.tlsAttrs(rl)...)...)
		rl.events.HostDefer(ctx, err)
		if mode == tlsRequired && errors.Is(err, client.ErrTLSRequired) {
			// No STARTTLS: never the REQUIRETLS message in clear.
			return false, &notQualified{reply: formatReply(requiretls.ReplyNoTLS) + " (" + host + ": no STARTTLS)"}
		}
		if rl.sendsAuth() {
			return false, authDeferral(err)
		}
		return false, err
	}
	pc.key = key
	return rl.sendOn(ctx, q, host, pc, rcpts)
}

// poolKey names the connections that may be reused for a host: a
// connection authenticated by DANE only for the host and next-hop domain
// it was verified for.
func poolKey(host, addr string, p *dane.Policy, mode tlsMode) string {
	k := addr + " " + host + " " + strconv.Itoa(int(mode))
	if p.Action != dane.Opportunistic {
		k += " " + strings.Join(p.Names, ",")
	}
	return k
}

func anyAnswered(rs []*queuedRcpt) bool {
	for _, r := range rs {
		if r.State != statePending {
			return true
		}
	}
	return false
}

// pooledConn is an outbound connection and what the log says of it.
type pooledConn struct {
	c        *client.Conn
	key      string // connPool key
	addr     string
	tlsSeen  uint16      // the version of a TLS handshake made, 0 for none
	verified bool        // the certificate verified for the smarthost (AUTH)
	dane     dane.Result // the handshake's DANE (or PKIX) outcome
	ocsp     *ocsp.Result
	idleFrom time.Time
}

// tlsAttrs are the log fields of the connection's TLS: version, CV= (Exim's
// dane|yes|no), and the DANE and OCSP outcomes where they were asked for.
func (pc *pooledConn) tlsAttrs(rl *relay) []any {
	version, cv := "none", "no"
	tlsVersion := pc.tlsSeen // a connection that failed after TLS says so
	if pc.c != nil {
		if st, ok := pc.c.TLS(); ok {
			tlsVersion = st.Version
		} else {
			tlsVersion = 0 // TLS failed, then a plaintext retry
		}
	}
	if tlsVersion != 0 {
		version = strings.ReplaceAll(tls.VersionName(tlsVersion), " ", "")
		if pc.dane.CV != "" {
			cv = pc.dane.CV
		}
		if pc.verified && cv == "no" {
			cv = "yes" // PKIX-verified for AUTH
		}
	}
	attrs := []any{"tls", version, "cv", cv}
	if rl.dane != dane.Off || pc.dane.Err != nil {
		attrs = append(attrs, "dane", pc.dane)
	}
	if pc.ocsp != nil {
		attrs = append(attrs, "ocsp", *pc.ocsp)
	}
	return attrs
}

// dial connects to addr with the TLS that policy and -ocsp ask for. On
// error the returned pooledConn has no connection, only the TLS outcome.
func (rl *relay) dial(ctx context.Context, host, addr string, policy *dane.Policy, mode tlsMode, insecureMX bool) (*pooledConn, error) {
	pc := &pooledConn{addr: addr}
	// RFC 7435 opportunistic security: encrypt whatever the certificate;
	// verification is recorded (CV= in the log). With secure TLSA records
	// the policy turns it into DANE authentication (RFC 7672 section 3).
	tc := policy.TLSConfig(&tls.Config{ServerName: host, InsecureSkipVerify: true, RootCAs: rl.roots})
	if mode == tlsRelaxed {
		// TLS-Required: No (RFC 8689 section 4.2.2): no DANE, no OCSP.
		tc = &tls.Config{ServerName: host, InsecureSkipVerify: true}
	}
	var usages uint8
	if policy.Action == dane.Authenticate {
		usages = dane.UsageBits(policy.Usable)
	}
	var chk *ocsp.Checker
	if om := ocsp.WithDANE(rl.ocsp, usages); om != ocsp.Off && mode != tlsRelaxed {
		chk = &ocsp.Checker{Mode: om}
		tc = chk.TLSConfig(tc) // after DANE's check
	}
	if rl.events != nil {
		tc.VerifyConnection = rl.events.VerifyConnection(ctx, tc.VerifyConnection) // tls:cert first
	}
	opts := &client.Options{
		Hostname:  rl.hostname,
		TLSPolicy: client.TLSOpportunistic,
		Logger:    rl.log,
		TLSConfig: tc,
	}
	if policy.TLSRequired() || chk != nil && chk.Mode == ocsp.Require {
		opts.TLSPolicy = client.TLSRequired
	}
	switch mode {
	case tlsRequired:
		// RFC 8689 section 4.2.1: TLS mandatory, REQUIRETLS advertised,
		// the server authenticated by DANE (when -dane verified it) or
		// PKIX for the MX name against rl.roots; REQUIRETLS on MAIL.
		d := &requiretls.Delivery{Host: host, InsecureMX: insecureMX, RootCAs: rl.roots,
			Authenticated: func(tls.ConnectionState) bool { return pc.dane.Verified }}
		opts = d.ClientOptions(opts)
	case tlsRelaxed:
		opts.TLSPolicy = client.TLSOpportunistic
	}
	var dialer events.ContextDialer
	if len(rl.socks) > 0 {
		dialer = &socks5.Dialer{Proxies: rl.socks, Logger: rl.log}
	}
	if rl.events != nil {
		dialer = rl.events.Dialer(dialer) // tcp:connect, smtp:connect, tcp:close
	}
	if dialer != nil {
		opts.Dialer = dialer
	}
	if rl.sendsAuth() {
		opts.Auth = sasl.NewPlainClient("", rl.authUser, rl.authPass)
		opts.TLSPolicy = client.TLSRequired // never a password in the clear
	}
	opts.TLSConfig = rl.finalTLS(opts.TLSConfig, host, pc)
	if rl.prdr {
		// Per-recipient replies after the data where the server offers
		// PRDR and the message has two or more recipients.
		opts.Extensions = append(opts.Extensions, prdr.Client{})
	}
	var c *client.Conn
	var err error
	if rl.pipeconnect != nil {
		// EHLO before the banner to servers that offered PIPECONNECT
		// last time (the cache under DATA); a failed early opening is
		// retried the classic way.
		c, err = pipeconnect.Dial(ctx, addr, opts, rl.pipeconnect)
	} else {
		c, err = client.Dial(ctx, addr, opts)
	}
	pc.dane = policy.Result()
	if chk != nil {
		r := chk.Result()
		pc.ocsp = &r
	}
	if err != nil {
		return pc, err
	}
	pc.c = c
	return pc, nil
}

func (rl *relay) sendOn(ctx context.Context, q *queued, host string, pc *pooledConn, rcpts []*queuedRcpt) (bool, error) {
	f, err := rl.spool.open(q.ID)
	if err != nil {
		pc.c.Close()
		return false, err
	}
	defer f.Close()
	var size int64
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	to := make([]string, len(rcpts))
	for i, r := range rcpts {
		to[i] = r.Addr
	}
	env := &client.Envelope{From: q.From, To: to, Size: size}
	if q.UTF8 {
		// RFC 6531 section 3.2: SMTPUTF8 for UTF-8 addresses (the engine
		// sees those) and for a UTF-8 header.
		env.UTF8, _ = smtputf8.HeaderNeedsUTF8(f)
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			pc.c.Close()
			return false, err
		}
	}
	var msg io.Reader = f
	if rl.arcSign != nil {
		// RFC 8617 section 5.1: seal on the way out, over the message as
		// it leaves, with our Authentication-Results as the AAR.
		header, skipped, err := rl.arcSign.seal(rl.hostname, f)
		if _, serr := f.Seek(0, io.SeekStart); err == nil {
			err = serr
		}
		switch {
		case err != nil:
			rl.log.Warn("ARC seal failed; sending unsealed", "id", q.ID, "err", err)
		case header == "":
			rl.log.Debug("ARC seal not added", "id", q.ID, "why", skipped)
		default:
			msg = io.MultiReader(strings.NewReader(header), f)
			env.Size += int64(len(header))
		}
	}
	// smtputf8.Send downgrades to a server without SMTPUTF8: A-label
	// domains for ASCII local parts; others fail 553 5.6.7 (DSN).
	res, sendErr := smtputf8.Send(ctx, pc.c, env, msg)
	var nq *notQualified
	switch {
	case errors.Is(sendErr, requiretls.ErrNotQualified):
		// Nothing sent: the next MX host may qualify.
		nq = &notQualified{reply: formatReply(res.Recipients[0].Reply) + " (" + host + ")"}
	case errors.Is(sendErr, client.ErrRefused):
		// Refused before MAIL (no recipient could be downgraded): each
		// recipient has its final reply, the connection is still good.
		sendErr = nil
	}
	if rl.events != nil {
		ev, _ := events.FromContext(ctx)
		ev.DANE = pc.dane.Verified
		if st, ok := pc.c.TLS(); ok && len(st.PeerCertificates) > 0 {
			ev.PeerCert = st.PeerCertificates[0]
		}
		ctx = events.NewContext(ctx, ev)
	}
	tlsAttrs := pc.tlsAttrs(rl)
	done := true
	for i, r := range rcpts {
		rr := res.Recipients[i]
		reply := formatReply(rr.Reply)
		switch {
		case nq != nil:
			r.LastReply, r.RemoteMTA = reply, host
			done = false
		case rr.Status == client.Accepted:
			r.State, r.LastReply, r.RemoteMTA = stateDelivered, reply, host
		case rr.Status == client.PermFailed:
			r.State, r.LastReply, r.RemoteMTA = stateFailed, reply, host
		default:
			r.LastReply, r.RemoteMTA = reply, host
			if sendErr != nil {
				done = false
			}
		}
		result := "not qualified" // for REQUIRETLS; the next host may be
		if nq == nil {
			rl.events.Recipient(ctx, r.Addr, rr.Reply) // msg:delivery, msg:rcpt:host:defer, msg:fail:delivery
			result = resultWord(rr.Status)
		}
		attrs := append([]any{"id", q.ID, "rcpt", r.Addr, "host", host, "addr", pc.addr}, tlsAttrs...)
		attrs = append(attrs, "result", result, "reply", reply)
		if len(rl.socks) > 0 {
			attrs = append(attrs, "socks", pc.c.RemoteAddr().String()) // the proxy used
		}
		rl.log.Info("delivery attempt", attrs...)
	}
	if nq != nil {
		pc.c.Close() // QUIT: RFC 8689 section 4.2.1
		return false, nq
	}
	if sendErr != nil {
		pc.c.Close()
		rl.events.HostDefer(ctx, sendErr)
		return done, sendErr
	}
	if pc.c.Messages() >= maxMessagesPerConn {
		pc.c.Close()
	} else {
		rl.pool.put(pc)
	}
	return true, nil
}

func resultWord(s client.Status) string {
	switch s {
	case client.Accepted:
		return "delivered"
	case client.PermFailed:
		return "failed"
	default:
		return "deferred"
	}
}

// formatReply renders a reply as "code enhanced text" on one line.
func formatReply(e *smtp.SMTPError) string {
	if e == nil {
		return ""
	}
	s := strconv.Itoa(e.Code)
	if e.EnhancedCode != smtp.NoEnhancedCode && e.EnhancedCode != smtp.EnhancedCodeNotSet {
		s += fmt.Sprintf(" %d.%d.%d", e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2])
	}
	if e.Message != "" {
		s += " " + oneLine(e.Message)
	}
	return s
}

// connPool keeps idle outbound connections for reuse, by poolKey.
type connPool struct {
	mu   sync.Mutex
	idle map[string][]*pooledConn
}

func (p *connPool) get(key string) *pooledConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for list := p.idle[key]; len(list) > 0; list = p.idle[key] {
		pc := list[len(list)-1]
		p.idle[key] = list[:len(list)-1]
		if time.Since(pc.idleFrom) < maxIdlePerConn {
			return pc
		}
		go pc.c.Close()
	}
	return nil
}

func (p *connPool) put(pc *pooledConn) {
	pc.idleFrom = time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle == nil {
		p.idle = map[string][]*pooledConn{}
	}
	p.idle[pc.key] = append(p.idle[pc.key], pc)
}

// sweep closes connections idle too long; closeAll closes every one.
func (p *connPool) sweep(all bool) {
	p.mu.Lock()
	var stale []*pooledConn
	for key, list := range p.idle {
		keep := list[:0]
		for _, pc := range list {
			if all || time.Since(pc.idleFrom) >= maxIdlePerConn {
				stale = append(stale, pc)
			} else {
				keep = append(keep, pc)
			}
		}
		p.idle[key] = keep
	}
	p.mu.Unlock()
	for _, pc := range stale {
		pc.c.Close()
	}
}

// sendsAuth says whether connections authenticate: to the smarthost, with
// -smarthost-auth.
func (rl *relay) sendsAuth() bool { return rl.smarthost != "" && rl.authUser != "" }

// finalTLS returns a copy of tc whose last check records the handshake in
// pc (for the log, even when the connection fails later) and, before
// AUTH, verifies the certificate for host against rl.authRoots: the
// password goes only to the server that proves to be the smarthost (RFC
// 4954 section 4, RFC 6125), whatever the other checks let through.
func (rl *relay) finalTLS(tc *tls.Config, host string, pc *pooledConn) *tls.Config {
	if tc == nil {
		tc = &tls.Config{ServerName: host}
	} else {
		tc = tc.Clone()
	}
	next, auth := tc.VerifyConnection, rl.sendsAuth()
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		if auth {
			if err := verifyFor(cs, host, rl.authRoots); err != nil {
				return &authTLSError{reply: "451 4.7.5 Smarthost certificate not trusted for AUTH", err: err}
			}
		}
		if next != nil {
			if err := next(cs); err != nil {
				return err
			}
		}
		pc.tlsSeen, pc.verified = cs.Version, auth
		return nil
	}
	return tc
}

// verifyFor checks the server's chain against roots (nil: the system's)
// and its name against host, a DNS name or an IP address.
func verifyFor(cs tls.ConnectionState, host string, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		DNSName: host, Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}

// authTLSError defers a delivery that would have authenticated without
// the TLS to protect the password: reply is its 4.7.x.
type authTLSError struct {
	reply string
	err   error
}

func (e *authTLSError) Error() string {
	if e.err == nil {
		return e.reply
	}
	return e.reply + ": " + e.err.Error()
}

func (e *authTLSError) Unwrap() error { return e.err }

// authDeferral classifies a failed connection to the smarthost under
// -smarthost-auth: no TLS, or an untrusted certificate, is a 4.7.x, and
// nothing of the credentials was sent.
func authDeferral(err error) error {
	var ae *authTLSError
	switch {
	case errors.As(err, &ae):
		return err // the certificate check's
	case errors.Is(err, client.ErrTLSRequired):
		// RFC 4954 section 4 and RFC 3463 X.7.10: encryption needed
		// for the mechanism.
		return &authTLSError{reply: "451 4.7.10 Smarthost offers no STARTTLS: AUTH needs TLS", err: err}
	}
	return err
}

// loadRoots reads the PEM certificates of path into a pool (-smarthost-ca);
// "" gives nil, the system's roots.
func loadRoots(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-smarthost-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("-smarthost-ca: no PEM certificate in %s", path)
	}
	return pool, nil
}
