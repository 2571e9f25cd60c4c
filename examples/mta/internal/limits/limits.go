// Package limits bounds what an SMTP listener hands out: connections in
// all and per client host (Exim's smtp_accept_max and
// smtp_accept_max_per_host), and it rides out temporary accept failures
// such as running out of file descriptors, as net/http does.
//
// A connection over a limit gets "421 4.7.0" (RFC 5321 section 3.8: a
// server that cannot serve now closes the connection with 421) and is
// closed; the server never sees it. Counting is by client IP address as
// RemoteAddr gives it: behind a PROXY protocol listener that is the
// proxied client, so the per-host decision is made in the connection's
// own goroutine, at its first Read or Write, never in Accept. The 421
// goes out in clear: the listener is for SMTP with STARTTLS (RFC 3207),
// not for implicit TLS.
package limits

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/smtpkit/smtpkit/internal/acceptretry"
)

// Defaults.
const (
	// DefaultRefuseTimeout bounds the write of a 421 refusal, so that a
	// client that does not read cannot hold the refusal up.
	DefaultRefuseTimeout = 2 * time.Second
	// maxRefusing bounds the 421 replies being written at once; past it
	// an excess connection is closed without a reply.
	maxRefusing = 64
)

// ErrRefused is what the first Read or Write of a connection over the per
// host limit returns, once the 421 went out. It wraps net.ErrClosed: for
// the server, the connection is closed.
var ErrRefused = fmt.Errorf("limits: too many connections from the host: %w", net.ErrClosed)

// Options are the limits; zero values mean no limit.
type Options struct {
	// Hostname is the server's name in the 421 reply.
	Hostname string
	// MaxConnections is the most connections open at once (Exim's
	// smtp_accept_max); 0 for no limit.
	MaxConnections int
	// MaxPerHost is the most connections open at once from one client
	// IP address (Exim's smtp_accept_max_per_host); 0 for no limit.
	MaxPerHost int
	// RefuseTimeout bounds the write of a 421; default
	// DefaultRefuseTimeout.
	RefuseTimeout time.Duration
	// Logger gets a warning per refusal and per accept failure that is
	// retried; default slog.Default().
	Logger *slog.Logger
}

// Listener is a net.Listener whose Accept applies the limits. Its
// connections are *Conn; closing one frees its place.
type Listener struct {
	net.Listener
	opts      Options
	done      chan struct{}
	closeOnce sync.Once
	refusing  chan struct{} // one token per 421 being written

	mu      sync.Mutex
	open    int
	perHost map[string]int
}

// NewListener wraps inner with the limits of opts (nil: no limits).
func NewListener(inner net.Listener, opts *Options) *Listener {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.RefuseTimeout <= 0 {
		o.RefuseTimeout = DefaultRefuseTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Listener{
		Listener: inner,
		opts:     o,
		done:     make(chan struct{}),
		refusing: make(chan struct{}, maxRefusing),
		perHost:  map[string]int{},
	}
}

// Accept returns the next connection within MaxConnections. A temporary
// failure (EMFILE, ENFILE, ECONNABORTED...) is logged and retried after a
// capped exponential backoff; other errors are returned as they are. A
// connection over the limit gets its 421 from a goroutine of its own, so
// Accept never waits for a client.
func (l *Listener) Accept() (net.Conn, error) {
	var backoff acceptretry.Backoff
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !acceptretry.Temporary(err) {
				return nil, err
			}
			l.opts.Logger.Warn("accept failed; retrying", "err", err)
			if _, err := backoff.Wait(context.Background(), l.done); err != nil {
				return nil, fmt.Errorf("limits: accept: %w", net.ErrClosed)
			}
			continue
		}
		backoff.Reset()
		l.mu.Lock()
		full := l.opts.MaxConnections > 0 && l.open >= l.opts.MaxConnections
		if !full {
			l.open++
		}
		l.mu.Unlock()
		if full {
			l.refuseAsync(c)
			continue
		}
		return &Conn{Conn: c, l: l}, nil
	}
}

// Close stops Accept, a backoff wait included, and closes the listener.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// Open returns the number of connections counted now.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

const (
	textTotal   = "Too many concurrent SMTP connections; please try again later"
	textPerHost = "Too many concurrent SMTP connections from this IP address; please try again later"
)

func (l *Listener) refuseAsync(c net.Conn) {
	select {
	case l.refusing <- struct{}{}:
		go func() {
			defer func() { <-l.refusing }()
			l.refuse(c, textTotal, "max connections")
		}()
	default:
		l.opts.Logger.Warn("connection refused without a reply", "reason", "max connections")
		c.Close()
	}
}

// refuse writes the 421 with a short write deadline and closes c. For a
// connection behind a PROXY listener the address and the write may wait
// for its header, within that listener's own timeout.
func (l *Listener) refuse(c net.Conn, text, reason string) {
	c.SetWriteDeadline(time.Now().Add(l.opts.RefuseTimeout))
	io.WriteString(c, "421 4.7.0 "+l.opts.Hostname+" "+text+"\r\n")
	c.Close()
	l.opts.Logger.Warn("connection refused", "remote", c.RemoteAddr().String(), "reason", reason)
}

// admit counts c for its host, or refuses it.
func (l *Listener) admit(c *Conn) error {
	host := hostKey(c.Conn.RemoteAddr()) // may wait for a PROXY header
	l.mu.Lock()
	if c.closed {
		l.mu.Unlock()
		return net.ErrClosed
	}
	if l.opts.MaxPerHost > 0 && l.perHost[host] >= l.opts.MaxPerHost {
		l.mu.Unlock()
		l.refuse(c.Conn, textPerHost, "max connections per host")
		c.Close()
		return ErrRefused
	}
	l.perHost[host]++
	c.host, c.counted = host, true
	l.mu.Unlock()
	return nil
}

func (l *Listener) release(c *Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	l.open--
	if c.counted {
		if l.perHost[c.host]--; l.perHost[c.host] <= 0 {
			delete(l.perHost, c.host)
		}
	}
}

// hostKey is the client IP address of a, IPv4-mapped addresses unmapped.
func hostKey(a net.Addr) string {
	if a == nil {
		return ""
	}
	s := a.String()
	if h, _, err := net.SplitHostPort(s); err == nil {
		s = h
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		return ip.Unmap().WithZone("").String()
	}
	return s
}

// Conn is a connection Accept counted. Its first Read or Write checks
// the per-host limit.
type Conn struct {
	net.Conn
	l         *Listener
	admitOnce sync.Once
	admitErr  error

	// under l.mu
	host    string
	counted bool
	closed  bool
}

// NetConn returns the connection below, as (*tls.Conn).NetConn does.
func (c *Conn) NetConn() net.Conn { return c.Conn }

func (c *Conn) admit() error {
	c.admitOnce.Do(func() { c.admitErr = c.l.admit(c) })
	return c.admitErr
}

// Read reads, once the connection was admitted.
func (c *Conn) Read(p []byte) (int, error) {
	if err := c.admit(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

// Write writes, once the connection was admitted.
func (c *Conn) Write(p []byte) (int, error) {
	if err := c.admit(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// Close closes the connection and frees its place; closing again is
// harmless.
func (c *Conn) Close() error {
	c.l.release(c)
	return c.Conn.Close()
}
