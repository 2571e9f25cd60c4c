package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/internal/netwrap"
	"github.com/smtpkit/smtpkit/internal/sessionwrap"
	"github.com/smtpkit/smtpkit/proxyproto"
)

// listener hands out trackedConns: no read or write waits longer than the idle
// timeout, and closing logs one line for the connection. Accept errors
// pass through unchanged; the limits listener below retries the
// temporary ones.
type listener struct {
	net.Listener
	idle     time.Duration
	plain    bool // trackedConn.plain
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
		plain: l.plain,
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
	// plain is set when go-smtp reads the client itself (no front):
	//   - A read timeout sticks: once a read ran into its deadline,
	//     every later read fails the same way. go-smtp reads command
	//     lines with bufio.Reader.ReadLine, which hands over a partial
	//     line and drops the error with it; otherwise the next line
	//     would get a fresh deadline, and a client trickling a line
	//     would never be cut. go-smtp answers the partial line, then
	//     finds the timeout and closes with 421 4.4.2.
	//   - While a message's data is read, the data phase's deadline
	//     replaces go-smtp's per-line one, which would otherwise cut a
	//     BDAT chunk (RFC 3030) longer than the idle timeout.
	plain bool

	ptr  string        // reverse DNS name, valid once rdns is closed
	rdns chan struct{} // closed when the PTR lookup finished

	messages     atomic.Int64
	userDeadline atomic.Int64          // read deadline set above, Unix ns; 0 for none
	userWrite    atomic.Int64          // write deadline set above, Unix ns; 0 for none
	dataDeadline atomic.Int64          // the message data's (dataBound), Unix ns; 0 for none
	hungUp       atomic.Bool           // reads fail: the session was ended
	tlsStarted   atomic.Bool           // with plain: go-smtp said 220 to STARTTLS
	timedOut     atomic.Pointer[error] // with plain: the timeout every read returns
	helo         atomic.Pointer[string]
	tlsInfo      atomic.Pointer[string]
	closeOnce    sync.Once
}

// NetConn returns the connection below, as (*tls.Conn).NetConn does.
func (c *trackedConn) NetConn() net.Conn { return c.Conn }

// Read waits at most the idle timeout, and never past the read deadline
// set by the layer above: go-smtp's and the front's deadline per command
// line (so a trickled line is cut), the front's short look for early
// input, a TLS handshake limit; nor past the data phase's deadline (see
// plain).
func (c *trackedConn) Read(b []byte) (int, error) {
	if c.hungUp.Load() {
		return 0, errHungUp
	}
	if err := c.timedOut.Load(); err != nil {
		return 0, *err
	}
	d := time.Now().Add(c.idle)
	data := c.dataDeadline.Load()
	if u := c.userDeadline.Load(); u != 0 && u < d.UnixNano() && (data == 0 || !c.plain) {
		d = time.Unix(0, u)
	}
	if data != 0 && data < d.UnixNano() {
		d = time.Unix(0, data)
	}
	if err := c.Conn.SetReadDeadline(d); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	var ne net.Error
	if c.plain && err != nil && errors.As(err, &ne) && ne.Timeout() {
		c.timedOut.Store(&err)
	}
	return n, err
}

// SetReadDeadline records the caller's deadline for Read.
func (c *trackedConn) SetReadDeadline(t time.Time) error {
	c.userDeadline.Store(unixNano(t))
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline is SetReadDeadline and SetWriteDeadline.
func (c *trackedConn) SetDeadline(t time.Time) error {
	c.userDeadline.Store(unixNano(t))
	c.userWrite.Store(unixNano(t))
	return c.Conn.SetDeadline(t)
}

// SetWriteDeadline records the caller's deadline for Write.
func (c *trackedConn) SetWriteDeadline(t time.Time) error {
	c.userWrite.Store(unixNano(t))
	return c.Conn.SetWriteDeadline(t)
}

// Write passes the replies on, each within the idle timeout. With plain, after go-smtp's 220 to
// STARTTLS every write is a TLS record (RFC 8446 section 5.1: the
// content type, 20 to 24, comes first), never a reply starting with a
// digit. go-smtp answers a failed handshake with "550 5.0.0 Handshake
// error" in clear text and then reads on in clear text what the client
// sent after the bytes TLS took: RFC 3207 section 4.1 knows no way back
// to clear text, so that write ends the session instead, as Exim and the
// front end it.
func (c *trackedConn) Write(b []byte) (int, error) {
	if c.plain && len(b) > 0 {
		if c.tlsStarted.Load() && '0' <= b[0] && b[0] <= '9' {
			c.log.Warn("TLS handshake failed; closing", "conn", c.id)
			c.hangUp()
			c.Conn.Close()
			return 0, errHungUp
		}
		if bytes.HasPrefix(b, []byte("220 ")) && bytes.Contains(b, []byte("Ready to start TLS")) {
			c.tlsStarted.Store(true)
		}
	}
	// As Read: no write waits longer than the idle timeout, nor past
	// the deadline set above.
	d := time.Now().Add(c.idle)
	if u := c.userWrite.Load(); u != 0 && u < d.UnixNano() {
		d = time.Unix(0, u)
	}
	if err := c.Conn.SetWriteDeadline(d); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(b)
	var ne net.Error
	if c.plain && err != nil && errors.As(err, &ne) && ne.Timeout() {
		// go-smtp drops write errors and reads on: a client that
		// never reads would keep the session for ever, one reply
		// timing out after another. The session ends here.
		c.log.Warn("client does not read its replies; closing", "conn", c.id)
		c.hangUp()
		c.Conn.Close()
	}
	return n, err
}

// errHungUp is what reads return once the session was ended: for go-smtp
// the connection is closed, so it closes it without a further reply.
var errHungUp = fmt.Errorf("session ended: %w", net.ErrClosed)

// hangUp makes every later read fail with errHungUp.
func (c *trackedConn) hangUp() { c.hungUp.Store(true) }

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

// dataBound is the outermost Backend. It keeps a message's data apart
// from the next transaction (see dataBoundSession.inData), in both modes.
// When go-smtp reads the client itself (plain, no front) it also bounds
// the data: commands have go-smtp's deadline per line; the data gets one
// for the whole of it, -data-timeout from the 354, on top of the idle
// timeout that bounds each read (Exim's smtp_receive_timeout). A client
// that runs into either gets 421 4.4.2 from go-smtp and the connection is
// closed, as Exim does. The deadline covers a BDAT (RFC 3030) transaction
// from its first chunk to its last, command lines included (see
// trackedConn.plain). Behind the front, the front's own Timeouts.Message
// does this.
type dataBound struct {
	smtp.Backend
	timeout time.Duration
	plain   bool
}

func (b dataBound) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s, err := b.Backend.NewSession(c)
	if err != nil {
		return s, err
	}
	ds := &dataBoundSession{Session: s, timeout: b.timeout}
	if b.plain {
		ds.conn, _ = netwrap.Find[*trackedConn](c.Conn())
	}
	return ds, nil
}

type dataBoundSession struct {
	smtp.Session
	conn    *trackedConn // plain mode: the data's deadline is set on it
	timeout time.Duration
	rcpts   []string // accepted, for LMTPData's fallback

	// go-smtp runs Data (LMTPData behind the front) for BDAT (RFC 3030)
	// on a goroutine of its own and, when the transaction ends early
	// (RSET, a chunk over the size limit, a failed chunk; behind the
	// front, its RSET for an oversized chunk), calls Reset and reads the
	// next commands without waiting for Data to return. The session's state is then
	// used by both: Reset is put off until Data returns, and Mail waits
	// for it.
	mu           sync.Mutex
	inData       chan struct{} // closed when the Data under way returns; nil without one
	resetPending bool
}

// Reset resets the session, once the Data under way has returned.
func (s *dataBoundSession) Reset() {
	s.mu.Lock()
	if s.inData != nil {
		s.resetPending = true
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.rcpts = nil
	s.Session.Reset()
}

// Rcpt notes the accepted recipients, for LMTPData.
func (s *dataBoundSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	err := s.Session.Rcpt(to, opts)
	if err == nil {
		s.rcpts = append(s.rcpts, to)
	}
	return err
}

// Mail starts a transaction once the Data of the last one has returned.
func (s *dataBoundSession) Mail(from string, opts *smtp.MailOptions) error {
	s.mu.Lock()
	done := s.inData
	s.mu.Unlock()
	if done != nil {
		<-done
	}
	return s.Session.Mail(from, opts)
}

// Unwrap returns the inner session, for the feature packages' FromConn.
func (s *dataBoundSession) Unwrap() smtp.Session { return s.Session }

func (s *dataBoundSession) AuthMechanisms() []string { return sessionwrap.AuthMechanisms(s.Session) }

func (s *dataBoundSession) Auth(mech string) (sasl.Server, error) {
	return sessionwrap.Auth(s.Session, mech, nil)
}

// errDataTimeout ends a session whose data did not arrive in time: RFC
// 5321 section 4.5.3.2.7 lets the server close after its timeout, and
// section 3.8 says with 421.
var errDataTimeout = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Timeout while reading the message data, closing connection"}

// enter marks the data under way; the function it returns runs the
// Reset put off meanwhile and lets Mail go on.
func (s *dataBoundSession) enter() (leave func()) {
	done := make(chan struct{})
	s.mu.Lock()
	s.inData = done
	s.mu.Unlock()
	return func() {
		// A Reset put off runs before Mail may go on.
		for {
			s.mu.Lock()
			if !s.resetPending {
				s.inData = nil
				s.mu.Unlock()
				break
			}
			s.resetPending = false
			s.mu.Unlock()
			s.rcpts = nil
			s.Session.Reset()
		}
		close(done)
	}
}

// LMTPData is Data behind the front, which bounds the client's data
// itself.
func (s *dataBoundSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	defer s.enter()()
	return sessionwrap.LMTPData(s.Session, r, status, s.rcpts)
}

func (s *dataBoundSession) Data(r io.Reader) error {
	defer s.enter()()
	if s.conn == nil {
		return s.Session.Data(r)
	}
	deadline := time.Now().Add(s.timeout)
	s.conn.dataDeadline.Store(deadline.UnixNano())
	defer s.conn.dataDeadline.Store(0)
	// The deadline go-smtp set for the DATA line gives way; it sets its
	// own again before the next command, so what go-smtp reads of the
	// data after Data returns is bounded too.
	s.conn.SetReadDeadline(deadline)
	w := &timeoutWatch{r: r}
	err := s.Session.Data(w)
	if w.timedOut.Load() {
		// go-smtp writes the 421; its next read finds the session over.
		s.conn.hangUp()
		return errDataTimeout
	}
	return err
}

// timeoutWatch notes whether a read of the data ran into a deadline.
type timeoutWatch struct {
	r        io.Reader
	timedOut atomic.Bool
}

func (w *timeoutWatch) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		w.timedOut.Store(true)
	}
	return n, err
}
