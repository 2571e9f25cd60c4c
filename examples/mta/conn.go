package main

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smtpkit/smtpkit/proxyproto"
)

// listener hands out trackedConns: each read refreshes an idle deadline,
// and closing logs one line for the connection.
type listener struct {
	net.Listener
	idle     time.Duration
	log      *slog.Logger
	resolver *net.Resolver
	nextID   atomic.Uint64

	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

// closeAll closes every connection still open. go-smtp's Server.Close is a
// no-op once Shutdown has begun, so the MTA ends overdue sessions here.
func (l *listener) closeAll() {
	l.mu.Lock()
	open := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		open = append(open, c)
	}
	l.mu.Unlock()
	for _, c := range open {
		c.Close()
	}
}

func (l *listener) forget(c *trackedConn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{
		Conn:  c,
		id:    l.nextID.Add(1),
		start: time.Now(),
		idle:  l.idle,
		log:   l.log,
		rdns:  make(chan struct{}),
		owner: l,
	}
	l.mu.Lock()
	if l.conns == nil {
		l.conns = map[*trackedConn]struct{}{}
	}
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	// RemoteAddr may wait for a PROXY header: never in Accept.
	go tc.lookupPTR(l.resolver)
	return tc, nil
}

// ptrTimeout bounds the reverse lookup made for the Received header.
const ptrTimeout = 3 * time.Second

// trackedConn is the connection go-smtp sees (below its TLS layer after
// STARTTLS). It exposes the raw connection with NetConn, like *tls.Conn.
type trackedConn struct {
	net.Conn
	id    uint64
	start time.Time
	idle  time.Duration
	log   *slog.Logger
	owner *listener

	ptr  string        // reverse DNS name, valid once rdns is closed
	rdns chan struct{} // closed when the PTR lookup finished

	messages     atomic.Int64
	userDeadline atomic.Int64 // read deadline set above, Unix ns; 0 for none
	helo         atomic.Pointer[string]
	tlsInfo      atomic.Pointer[string]
	closeOnce    sync.Once
}

// NetConn returns the connection below, as (*tls.Conn).NetConn does.
func (c *trackedConn) NetConn() net.Conn { return c.Conn }

// Read refreshes the idle deadline, so a client that goes silent for the
// idle timeout is cut, however long the whole session or message takes.
// A read deadline set by the layer above (the front's short look for
// early input, a TLS handshake limit) applies when it is sooner.
func (c *trackedConn) Read(b []byte) (int, error) {
	d := time.Now().Add(c.idle)
	if u := c.userDeadline.Load(); u != 0 && u < d.UnixNano() {
		d = time.Unix(0, u)
	}
	if err := c.Conn.SetReadDeadline(d); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

// SetReadDeadline records the caller's deadline for Read.
func (c *trackedConn) SetReadDeadline(t time.Time) error {
	c.userDeadline.Store(unixNano(t))
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline is SetReadDeadline and the write deadline.
func (c *trackedConn) SetDeadline(t time.Time) error {
	c.userDeadline.Store(unixNano(t))
	return c.Conn.SetDeadline(t)
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() {
		c.owner.forget(c)
		attrs := []any{
			"conn", c.id,
			"remote", c.RemoteAddr().String(),
			"duration", time.Since(c.start).Round(time.Millisecond).String(),
			"messages", c.messages.Load(),
		}
		if h := c.helo.Load(); h != nil {
			attrs = append(attrs, "helo", *h)
		}
		if t := c.tlsInfo.Load(); t != nil {
			attrs = append(attrs, "tls", *t)
		}
		if prx := proxyAddr(c); prx != "" {
			attrs = append(attrs, "PRX", prx)
		}
		c.log.Info("connection", attrs...)
	})
	return err
}

func (c *trackedConn) lookupPTR(r *net.Resolver) {
	defer close(c.rdns)
	c.log.Debug("connection opened", "conn", c.id, "remote", c.RemoteAddr().String())
	ip := remoteIP(c.RemoteAddr())
	if ip == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), ptrTimeout)
	defer cancel()
	names, err := r.LookupAddr(ctx, ip.String())
	if err != nil || len(names) == 0 {
		return
	}
	c.ptr = strings.TrimSuffix(names[0], ".")
}

// reverseName returns the PTR name if the lookup has finished by now; the
// Received header never waits for DNS.
func (c *trackedConn) reverseName() string {
	select {
	case <-c.rdns:
		return c.ptr
	default:
		return ""
	}
}

func remoteIP(a net.Addr) net.IP {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP
	case nil:
		return nil
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return nil
	}
	return net.ParseIP(host)
}

// proxyAddr is the load balancer's address when the connection came
// through the PROXY protocol (Exim's PRX= log field), else "".
func proxyAddr(c net.Conn) string {
	if info, ok := proxyproto.FromConn(c); ok && info.Proxied {
		return info.ProxyAddr.Addr().String()
	}
	return ""
}
