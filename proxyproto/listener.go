package proxyproto

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smtpkit/smtpkit/internal/netwrap"
)

// Listener wraps a net.Listener: every accepted connection is a *Conn that
// reads the PROXY header of a required host before anything else.
//
// Accept never reads: the header is read by the connection's first Read,
// Write, RemoteAddr, LocalAddr, Info or Handshake, which go-smtp makes in
// the connection's own goroutine. A slow proxy therefore never holds up
// Accept for the others.
type Listener struct {
	net.Listener
	opts Options
}

// NewListener wraps inner with the policy of opts (nil means the zero
// Options).
func NewListener(inner net.Listener, opts *Options) *Listener {
	return &Listener{Listener: inner, opts: opts.withDefaults()}
}

// Accept waits for the next connection and returns it as a *Conn.
func (l *Listener) Accept() (net.Conn, error) {
	raw, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newConn(raw, &l.opts, time.Now()), nil
}

// NewConn wraps a connection accepted elsewhere with the policy of opts;
// the header timeout counts from now.
func NewConn(raw net.Conn, opts *Options) *Conn {
	o := opts.withDefaults()
	return newConn(raw, &o, time.Now())
}

// Conn is an accepted connection. For a required host it starts with the
// PROXY header, which it consumes; afterwards RemoteAddr is the original
// client and LocalAddr the address the client connected to at the proxy.
type Conn struct {
	raw      net.Conn
	opts     *Options
	deadline time.Time

	hsMu   sync.Mutex  // held by the handshake
	hsDone bool        // under hsMu and dlMu
	done   atomic.Bool // hsDone, for the fast path
	info   Info        // set by the handshake, read-only after

	dlMu      sync.Mutex
	inHS      bool      // the header read owns the raw read deadline
	userRead  time.Time // read deadline set by the user meanwhile
	userReadS bool

	rmu     sync.Mutex    // Read side
	br      *bufio.Reader // header reader and its leftovers; nil once drained
	refuse  refuseState
	pending []byte
	refused int
	wmu     sync.Mutex // Write side and refusal replies
}

func newConn(raw net.Conn, o *Options, accepted time.Time) *Conn {
	return &Conn{raw: raw, opts: o, deadline: accepted.Add(o.Timeout)}
}

// NetConn returns the connection below, as *tls.Conn has it.
func (c *Conn) NetConn() net.Conn { return c.raw }

// Info waits for the header (see Handshake) and returns what it said.
func (c *Conn) Info() Info {
	c.Handshake(context.Background())
	return c.info
}

// Handshake reads the PROXY header when the remote host is a required
// one, at most until the timeout counted from Accept or until ctx is
// done. It runs once; later calls return the first result at once. The
// error is Info().Err: a failed negotiation leaves the connection open,
// so that the server can refuse commands as Exim does (see NewBackend).
func (c *Conn) Handshake(ctx context.Context) error {
	if c.done.Load() {
		return c.info.Err
	}
	c.hsMu.Lock()
	defer c.hsMu.Unlock()
	if c.hsDone {
		return c.info.Err
	}
	c.handshake(ctx)
	c.dlMu.Lock()
	c.hsDone = true
	c.inHS = false
	if c.userReadS {
		c.raw.SetReadDeadline(c.userRead)
	} else {
		c.raw.SetReadDeadline(time.Time{})
	}
	c.dlMu.Unlock()
	c.done.Store(true)
	return c.info.Err
}

func (c *Conn) handshake(ctx context.Context) {
	info := &c.info
	info.ClientAddr = addrPort(c.raw.RemoteAddr())
	info.ProxyAddr = info.ClientAddr
	info.TargetAddr = addrPort(c.raw.LocalAddr())
	info.Required = c.opts.required(info.ClientAddr.Addr())
	if !info.Required {
		// A header from anyone else is not believed: it stays data
		// (Exim does the same), and an SMTP server answers 500 to it.
		return
	}
	c.dlMu.Lock()
	c.inHS = true
	c.dlMu.Unlock()
	deadline := c.deadline
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.raw.SetReadDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.raw.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	c.br = bufio.NewReaderSize(c.raw, 512)
	var hdr Info
	err := readHeader(c.br, &hdr)
	if err != nil {
		var ne net.Error
		switch {
		case ctx.Err() != nil:
			err = fmt.Errorf("proxyproto: header from %v: %w", info.ProxyAddr, ctx.Err())
		case errors.As(err, &ne) && ne.Timeout():
			err = fmt.Errorf("proxyproto: no header from %v within %v: %w", info.ProxyAddr, c.opts.Timeout, err)
		case errors.Is(err, io.EOF):
			err = fmt.Errorf("proxyproto: connection from %v closed before the header: %w", info.ProxyAddr, err)
		default:
			err = fmt.Errorf("proxyproto: header from %v: %w", info.ProxyAddr, err)
		}
		if !errors.Is(err, ErrNoHeader) {
			// What was read of a bad header is dropped. Bytes that
			// are no header at all (a client that bypassed the
			// proxy, its TLS ClientHello or its first command)
			// stay: they are the client's.
			c.br.Discard(c.br.Buffered())
		}
		info.Err = err
		c.opts.Logger.Warn("PROXY negotiation failed", "proxy", info.ProxyAddr.String(), "err", err)
		return
	}
	info.Proxied = true
	info.Version = hdr.Version
	info.Local = hdr.Local
	info.TLVs, info.Authority, info.SSL = hdr.TLVs, hdr.Authority, hdr.SSL
	if !hdr.Local {
		info.ClientAddr, info.TargetAddr = hdr.ClientAddr, hdr.TargetAddr
	}
	c.opts.Logger.Debug("PROXY header", "version", info.Version, "local", info.Local,
		"client", info.ClientAddr.String(), "proxy", info.ProxyAddr.String(), "target", info.TargetAddr.String())
}

// Read reads the connection's data, after the header.
func (c *Conn) Read(p []byte) (int, error) {
	c.Handshake(context.Background())
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.info.Err != nil {
		switch c.refusal(refusePass) {
		case refuseFilter:
			return c.refuseRead(p)
		}
	}
	if c.br != nil {
		if c.br.Buffered() > 0 {
			return c.br.Read(p)
		}
		c.br = nil
	}
	return c.raw.Read(p)
}

// Write writes to the connection once the header is read: nothing, not
// even an SMTP banner, is sent to a required host before its header.
func (c *Conn) Write(p []byte) (int, error) {
	c.Handshake(context.Background())
	if c.info.Err != nil {
		c.refusal(refuseFilter)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.raw.Write(p)
}

// RemoteAddr is the original client when the header carried one, else
// the socket's remote address. It waits for the header.
func (c *Conn) RemoteAddr() net.Addr {
	if i := c.Info(); i.Proxied && !i.Local {
		return tcpAddr(i.ClientAddr)
	}
	return c.raw.RemoteAddr()
}

// LocalAddr is the address the client connected to at the proxy when the
// header carried one, else the socket's local address. It waits for the
// header.
func (c *Conn) LocalAddr() net.Addr {
	if i := c.Info(); i.Proxied && !i.Local {
		return tcpAddr(i.TargetAddr)
	}
	return c.raw.LocalAddr()
}

// Close closes the connection; a header read under way ends at once.
func (c *Conn) Close() error { return c.raw.Close() }

// SetDeadline sets the read and write deadlines of the connection.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.raw.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline. While the header is being read
// the header's own deadline applies; the one set here takes over after.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	c.userRead, c.userReadS = t, true
	if c.inHS {
		return nil
	}
	return c.raw.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }

func tcpAddr(ap netip.AddrPort) *net.TCPAddr { return net.TCPAddrFromAddrPort(ap) }

// FromConn returns the PROXY information of the *Conn found in c's
// NetConn() chain (through *tls.Conn and smtpkit's wrappers), waiting for
// its header; ok is false when c did not come from a Listener.
func FromConn(c net.Conn) (info Info, ok bool) {
	pc, ok := netwrap.Find[*Conn](c)
	if !ok {
		return Info{}, false
	}
	return pc.Info(), true
}
