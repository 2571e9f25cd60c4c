package socks5

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smtpkit/smtpkit/internal/netwrap"
)

// ContextDialer is the shape of golang.org/x/net/proxy.ContextDialer and
// of client.Dialer; *net.Dialer and *Dialer have it.
type ContextDialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// ErrNoProxies is returned by a Dialer without proxies.
var ErrNoProxies = errors.New("socks5: no proxies configured")

// Dialer connects to targets through a list of SOCKS5 proxies, the way
// Exim's smtp transport does with socks_proxy: proxies are tried by
// priority and weight (see Proxy) until one connects the target. Its zero
// value has no proxies; set Proxies (ParseProxies reads Exim's syntax).
// A Dialer is safe for concurrent use.
type Dialer struct {
	Proxies []Proxy
	// Forward opens the TCP connections to the proxies; nil means a
	// net.Dialer.
	Forward ContextDialer
	// Logger gets a Debug line per connection made and a Warn line per
	// proxy that failed; passwords never appear. nil means
	// slog.Default().
	Logger *slog.Logger

	// rand draws the order of weighted proxies; tests replace it.
	rand func(n int) int
}

// Conn is a connection to a target through a proxy. Its RemoteAddr is the
// proxy's address (what Exim reports in tcp:connect events); NetConn
// returns the TCP connection to the proxy.
type Conn struct {
	net.Conn
	proxy Proxy
	bound string
}

// NetConn returns the connection to the proxy.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// Proxy returns the proxy that carries the connection. Its String form
// hides the password.
func (c *Conn) Proxy() Proxy { return c.proxy }

// BoundAddr is the address the proxy reported for its connection to the
// target (BND.ADDR and BND.PORT, RFC 1928 section 6): what the target
// sees as its client.
func (c *Conn) BoundAddr() string { return c.bound }

// ProxyOf returns the proxy that carries c, walking NetConn() chains
// (such as *tls.Conn above a *Conn); ok is false for a direct connection.
func ProxyOf(c net.Conn) (p Proxy, ok bool) {
	sc, ok := netwrap.Find[*Conn](c)
	if !ok {
		return Proxy{}, false
	}
	return sc.proxy, true
}

// Dial is DialContext without a context, the shape of
// golang.org/x/net/proxy.Dialer.
func (d *Dialer) Dial(network, addr string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, addr)
}

// DialContext connects to addr ("host:port"; host an IP address or a
// name, which the proxy resolves) through the first proxy that manages
// it, in the order of priority and weight. Each proxy's attempt is
// bounded by its Timeout and the whole by ctx. The result is a *Conn. When
// every proxy fails, the error wraps each proxy's *Error.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("socks5: network %q: only TCP goes through SOCKS5 CONNECT", network)
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("socks5: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("socks5: bad port in %q", addr)
	}
	if len(d.Proxies) == 0 {
		return nil, ErrNoProxies
	}
	log := d.Logger
	if log == nil {
		log = slog.Default()
	}
	var errs dialErrors
	for _, p := range d.order() {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		c, err := d.try(ctx, p, host, port)
		if err == nil {
			log.Debug("SOCKS5 connected", "proxy", p.Addr(), "target", addr, "bound", c.bound)
			return c, nil
		}
		log.Warn("SOCKS5 proxy failed", "proxy", p.Addr(), "target", addr, "err", err)
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("socks5: no proxy connected to %s: %w", addr, errs)
}

func (d *Dialer) try(ctx context.Context, p Proxy, host string, port int) (*Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()
	fwd := d.Forward
	if fwd == nil {
		fwd = &net.Dialer{}
	}
	conn, err := fwd.DialContext(ctx, "tcp", p.Addr())
	if err != nil {
		return nil, &Error{Proxy: p.Addr(), Step: "connect", Err: err}
	}
	// The negotiation is bounded by the same deadline, and cancelling
	// ctx interrupts it at once.
	dl, _ := ctx.Deadline()
	conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	bound, step, err := negotiate(conn, p, host, port)
	stopped := stop()
	if err == nil && !stopped {
		err = ctx.Err()
		step = "request"
	}
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return nil, &Error{Proxy: p.Addr(), Step: step, Err: err}
	}
	conn.SetDeadline(time.Time{})
	return &Conn{Conn: conn, proxy: p, bound: bound}, nil
}

// order returns the proxies by priority, higher first (Exim's pri); within
// a priority, in list order, or in a random order biased by Weight when
// one of them sets a weight (unset weights count as Exim's default, 1).
func (d *Dialer) order() []Proxy {
	ps := slices.Clone(d.Proxies)
	slices.SortStableFunc(ps, func(a, b Proxy) int { return b.Priority - a.Priority })
	rnd := d.rand
	if rnd == nil {
		rnd = rand.IntN
	}
	for i := 0; i < len(ps); {
		j := i
		weighted := false
		for j < len(ps) && ps[j].Priority == ps[i].Priority {
			weighted = weighted || ps[j].Weight > 0
			j++
		}
		if weighted {
			weightedShuffle(ps[i:j], rnd)
		}
		i = j
	}
	return ps
}

// weightedShuffle orders ps by repeated weighted draws without
// replacement.
func weightedShuffle(ps []Proxy, rnd func(int) int) {
	w := func(p Proxy) int { return max(p.Weight, 1) }
	for i := range ps {
		total := 0
		for _, p := range ps[i:] {
			total += w(p)
		}
		r := rnd(total)
		for k := i; k < len(ps); k++ {
			if r -= w(ps[k]); r < 0 {
				ps[i], ps[k] = ps[k], ps[i]
				break
			}
		}
	}
}

// dialErrors is every proxy's failure, in the order tried.
type dialErrors []error

func (e dialErrors) Error() string {
	s := make([]string, len(e))
	for i, err := range e {
		s[i] = err.Error()
	}
	return strings.Join(s, "; ")
}

func (e dialErrors) Unwrap() []error { return e }
