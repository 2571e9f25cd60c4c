package events

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
)

// MaxBannerSize bounds what the connection keeps while it waits for the end
// of the banner. RFC 5321 section 4.5.3.1.5 limits a reply line to 512
// octets; a few continuation lines fit well within this. A longer banner
// is raised truncated.
const MaxBannerSize = 8 << 10

// ContextDialer opens connections. It has the shape of
// golang.org/x/net/proxy.ContextDialer and of the client engine's
// Options.Dialer, so a *net.Dialer, a SOCKS5 dialer or a dialer of another
// package fits on either side of [Emitter.Dialer].
type ContextDialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Dialer wraps forward (a *net.Dialer when nil) so that its connections
// raise the connection events:
//
//   - tcp:connect before dialing, with HostAddr (and Host when addr names
//     a host rather than an address). A veto returns a *VetoError and
//     forward is not called: no connection attempt.
//   - smtp:connect when the server's banner (the first complete reply,
//     RFC 5321 section 4.2) has been read from the connection, before
//     the reader sees it; Data is the banner as received, code included
//     (lines joined by "\n"). A veto closes the connection and the read
//     returns a *VetoError: the SMTP client fails on the banner, having
//     said nothing. A connection whose first bytes are not a reply code
//     (TLS on connect) raises no smtp:connect.
//   - tcp:close when the connection is closed (once).
//
// The events carry the template of the context given to DialContext, and
// SendingAddr and HostAddr from the connection once made. The returned
// connection exposes the one below through NetConn() net.Conn.
func (e *Emitter) Dialer(forward ContextDialer) ContextDialer {
	if forward == nil {
		forward = &net.Dialer{}
	}
	return &dialer{e: e, forward: forward}
}

type dialer struct {
	e       *Emitter
	forward ContextDialer
}

func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.e == nil || d.e.Handler == nil {
		return d.forward.DialContext(ctx, network, addr)
	}
	ev := Event{Name: TCPConnect}
	if host, port, err := net.SplitHostPort(addr); err == nil {
		if a, err := netip.ParseAddr(host); err == nil {
			ev.HostAddr = netip.AddrPortFrom(a.Unmap(), parsePort(port))
		} else {
			ev.Host = host
		}
	}
	if err := d.e.Emit(ctx, ev); err != nil {
		return nil, err
	}
	nc, err := d.forward.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	// Later events carry the template and the connection's addresses,
	// but not the dial's cancellation: the connection outlives it.
	tmpl, _ := FromContext(ctx)
	if tmpl.Host == "" {
		tmpl.Host = ev.Host
	}
	if a, ok := addrPort(nc.RemoteAddr()); ok {
		tmpl.HostAddr = a
	}
	if a, ok := addrPort(nc.LocalAddr()); ok {
		tmpl.SendingAddr = a
	}
	return &conn{Conn: nc, e: d.e, ctx: NewContext(context.WithoutCancel(ctx), tmpl)}, nil
}

func parsePort(s string) uint16 {
	p, _ := strconv.ParseUint(s, 10, 16)
	return uint16(p)
}

// addrPort returns a TCP or UDP address as a netip.AddrPort.
func addrPort(a net.Addr) (netip.AddrPort, bool) {
	switch a := a.(type) {
	case *net.TCPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	case *net.UDPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	if a == nil {
		return netip.AddrPort{}, false
	}
	ap, err := netip.ParseAddrPort(a.String())
	return ap, err == nil
}

// conn raises smtp:connect on the banner and tcp:close on Close.
type conn struct {
	net.Conn
	e   *Emitter
	ctx context.Context // the template, without cancellation

	// Read side, owned by the reader: the banner until its end.
	watching bool // still looking for the end of the banner
	started  bool
	banner   []byte
	vetoed   error

	closeOnce sync.Once
	closeErr  error
}

// NetConn returns the connection below, as *tls.Conn does.
func (c *conn) NetConn() net.Conn { return c.Conn }

func (c *conn) Read(p []byte) (int, error) {
	if c.vetoed != nil {
		return 0, c.vetoed
	}
	n, err := c.Conn.Read(p)
	if c.started && !c.watching {
		return n, err
	}
	if !c.started && n > 0 {
		c.started = true
		// RFC 5321 section 4.2: a reply begins with a three-digit code.
		// Anything else (a TLS record on port 465) is not watched.
		c.watching = p[0] >= '2' && p[0] <= '5'
	}
	if c.watching && n > 0 {
		if end := c.take(p[:n]); end {
			c.watching = false
			ev := Event{Name: SMTPConnect, Data: bannerText(c.banner)}
			c.banner = nil
			if verr := c.e.Emit(c.ctx, ev); verr != nil {
				c.vetoed = verr
				c.Close()
				return 0, verr
			}
		}
	}
	return n, err
}

// take adds b to the banner and reports whether the banner's last line
// (RFC 5321 section 4.2.1: code followed by a space, or the code alone)
// is complete.
func (c *conn) take(b []byte) bool {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		line := b
		if i >= 0 {
			line = b[:i+1]
		}
		if room := MaxBannerSize - len(c.banner); room > 0 {
			c.banner = append(c.banner, line[:min(room, len(line))]...)
		}
		if i < 0 {
			return false
		}
		b = b[i+1:]
		// The complete line is the tail of c.banner since the previous
		// newline.
		start := bytes.LastIndexByte(c.banner[:len(c.banner)-1], '\n') + 1
		if last := c.banner[start:]; len(last) < 4 || last[3] != '-' || len(c.banner) >= MaxBannerSize {
			return true
		}
	}
	return false
}

// bannerText is the banner as received, codes included, lines joined by
// "\n" ("220 mx.test ESMTP ready").
func bannerText(b []byte) string {
	var out []byte
	for line := range bytes.Lines(b) {
		line = bytes.TrimRight(line, "\r\n")
		if len(out) > 0 {
			out = append(out, '\n')
		}
		out = append(out, line...)
	}
	return string(out)
}

// Close closes the connection and raises tcp:close the first time.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.Conn.Close()
		c.e.Emit(c.ctx, Event{Name: TCPClose})
	})
	if c.closeErr != nil {
		return fmt.Errorf("events: close: %w", c.closeErr)
	}
	return nil
}
