package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/socks5"
)

// Connection reuse limits for outbound delivery.
const (
	maxMessagesPerConn = 100
	maxIdlePerConn     = 30 * time.Second
)

// relay delivers spooled messages to remote hosts through the client
// engine: a smarthost, or the destination's MX hosts in preference order
// (RFC 5321 section 5.1), each of their addresses in turn.
type relay struct {
	hostname  string
	resolver  *net.Resolver
	smarthost string // host:port, or "" for MX delivery
	authUser  string
	authPass  string
	port      int
	socks     []socks5.Proxy // -socks: outbound through these proxies
	roots     *x509.CertPool // nil: the system's; verification is recorded, not enforced
	spool     *spool
	log       *slog.Logger
	pool      connPool
}

// hostError is a routing failure for every recipient of a domain.
type hostError struct {
	perm  bool
	reply string
}

func (e *hostError) Error() string { return e.reply }

// hosts returns the hosts to try for domain, best first.
func (rl *relay) hosts(ctx context.Context, domain string) ([]string, error) {
	if rl.smarthost != "" {
		host, _, _ := net.SplitHostPort(rl.smarthost)
		return []string{host}, nil
	}
	mxs, err := rl.resolver.LookupMX(ctx, domain)
	var de *net.DNSError
	switch {
	case errors.As(err, &de) && de.IsNotFound:
		// RFC 5321 section 5.1: no MX records, the domain is its own MX.
		return []string{domain}, nil
	case err != nil:
		return nil, &hostError{reply: "451 4.4.3 MX lookup for " + domain + " failed: " + err.Error()}
	}
	if len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == "") {
		// RFC 7505 section 3: a null MX says the domain accepts no mail.
		return nil, &hostError{perm: true, reply: "556 5.1.10 Domain " + domain + " does not accept mail (null MX)"}
	}
	hosts := make([]string, 0, len(mxs))
	for _, mx := range mxs { // LookupMX sorts by preference
		if h := strings.TrimSuffix(mx.Host, "."); h != "" {
			hosts = append(hosts, h)
		}
	}
	return hosts, nil
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

func domainOf(addr string) string {
	return normalizeDomain(addr[strings.LastIndexByte(addr, '@')+1:])
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
	hosts, err := rl.hosts(ctx, domain)
	if err != nil {
		var he *hostError
		errors.As(err, &he)
		fail(he, rcpts)
		return
	}
	pending := rcpts
	last := &hostError{reply: "451 4.4.1 No host could be reached for " + domain}
	allPerm := true // every host failed permanently (no address at all)
	for _, host := range hosts {
		addrs, err := rl.addrs(ctx, host)
		if err != nil {
			errors.As(err, &last)
			allPerm = allPerm && last.perm
			continue
		}
		allPerm = false
		for _, addr := range addrs {
			if ctx.Err() != nil {
				return
			}
			done, err := rl.send(ctx, q, host, addr, pending)
			if err == nil || done {
				return // every recipient has a reply from this host
			}
			last = &hostError{reply: "451 4.4.2 " + host + " [" + addr + "]: " + err.Error()}
			if pending = stillPending(pending); len(pending) == 0 {
				return
			}
		}
	}
	fail(&hostError{reply: last.reply, perm: allPerm}, pending)
}

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
// one when there is. done reports that every recipient got a reply.
func (rl *relay) send(ctx context.Context, q *queued, host, addr string, rcpts []*queuedRcpt) (done bool, err error) {
	pc := rl.pool.get(addr)
	if pc != nil {
		done, err = rl.sendOn(ctx, q, host, pc, rcpts)
		if err == nil || done || anyAnswered(rcpts) {
			return done, err
		}
		// The idle connection had gone stale: try once on a new one.
	}
	pc, err = rl.dial(ctx, host, addr)
	if err != nil {
		rl.log.Info("connection failed", "id", q.ID, "host", host, "addr", addr, "err", err)
		return false, err
	}
	return rl.sendOn(ctx, q, host, pc, rcpts)
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
	addr     string
	verified bool // the certificate chain verified for the host name
	idleFrom time.Time
}

func (rl *relay) dial(ctx context.Context, host, addr string) (*pooledConn, error) {
	pc := &pooledConn{addr: addr}
	opts := &client.Options{
		Hostname:  rl.hostname,
		TLSPolicy: client.TLSOpportunistic,
		Logger:    rl.log,
		TLSConfig: &tls.Config{
			ServerName: host,
			// RFC 7435 opportunistic security: encrypt whatever the
			// certificate; verification is recorded (CV= in the log), and
			// dane/ocsp enforce it where configured.
			InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				pc.verified = verifyChain(cs, host, rl.roots) == nil
				return nil
			},
		},
	}
	if len(rl.socks) > 0 {
		opts.Dialer = &socks5.Dialer{Proxies: rl.socks, Logger: rl.log}
	}
	if rl.smarthost != "" && rl.authUser != "" {
		opts.Auth = sasl.NewPlainClient("", rl.authUser, rl.authPass)
		opts.TLSPolicy = client.TLSRequired // never a password in the clear
	}
	c, err := client.Dial(ctx, addr, opts)
	if err != nil {
		return nil, err
	}
	pc.c = c
	return pc, nil
}

func verifyChain(cs tls.ConnectionState, host string, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter})
	return err
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
	res, sendErr := pc.c.Send(ctx, &client.Envelope{From: q.From, To: to, Size: size}, f)
	tlsVersion, cv := "none", "no"
	if st, ok := pc.c.TLS(); ok {
		tlsVersion = strings.ReplaceAll(tls.VersionName(st.Version), " ", "")
		if pc.verified {
			cv = "yes"
		}
	}
	done := true
	for i, r := range rcpts {
		rr := res.Recipients[i]
		reply := formatReply(rr.Reply)
		switch rr.Status {
		case client.Accepted:
			r.State, r.LastReply, r.RemoteMTA = stateDelivered, reply, host
		case client.PermFailed:
			r.State, r.LastReply, r.RemoteMTA = stateFailed, reply, host
		default:
			r.LastReply, r.RemoteMTA = reply, host
			if sendErr != nil {
				done = false
			}
		}
		attrs := []any{"id", q.ID, "rcpt", r.Addr, "host", host, "addr", pc.addr,
			"tls", tlsVersion, "cv", cv, "result", resultWord(rr.Status), "reply", reply}
		if len(rl.socks) > 0 {
			attrs = append(attrs, "socks", pc.c.RemoteAddr().String()) // the proxy used
		}
		rl.log.Info("delivery attempt", attrs...)
	}
	if sendErr != nil {
		pc.c.Close()
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

// connPool keeps idle outbound connections per address for reuse.
type connPool struct {
	mu   sync.Mutex
	idle map[string][]*pooledConn
}

func (p *connPool) get(addr string) *pooledConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for list := p.idle[addr]; len(list) > 0; list = p.idle[addr] {
		pc := list[len(list)-1]
		p.idle[addr] = list[:len(list)-1]
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
	p.idle[pc.addr] = append(p.idle[pc.addr], pc)
}

// sweep closes connections idle too long; closeAll closes every one.
func (p *connPool) sweep(all bool) {
	p.mu.Lock()
	var stale []*pooledConn
	for addr, list := range p.idle {
		keep := list[:0]
		for _, pc := range list {
			if all || time.Since(pc.idleFrom) >= maxIdlePerConn {
				stale = append(stale, pc)
			} else {
				keep = append(keep, pc)
			}
		}
		p.idle[addr] = keep
	}
	p.mu.Unlock()
	for _, pc := range stale {
		pc.c.Close()
	}
}
