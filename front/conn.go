package front

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/internal/netwrap"
)

// Conn is one client connection as extensions and sessions see it. Its
// methods may be called from the front's hooks and from the go-smtp
// session behind the front (which finds it with FromConn) while a command
// is being handled.
type Conn struct {
	srv *Server
	raw net.Conn // as accepted
	nc  net.Conn // raw, or the *tls.Conn over it
	tls *tls.Conn
	log *slog.Logger

	br *bufio.Reader
	bw *bufio.Writer

	inner net.Conn   // the front's end of the pipe to go-smtp
	ic    *innerConn // go-smtp's end
	ir    *bufio.Reader

	helo      string
	ehlo      bool
	keywords  []string          // advertised in the last EHLO reply
	params    map[string]string // claimed MAIL parameters of the transaction
	mailNotes []string
	inTx      bool
	rcpts     []string
	bdatBytes int64
	nonMail   int
	// protoErrors counts lines that were no command.
	protoErrors int
	// msgDeadline ends the message under way (Timeouts.Message), from
	// the 354 to DATA or the first BDAT; zero outside one.
	msgDeadline time.Time

	abortOnce sync.Once
}

// errClose ends a session after a reply that said so.
var errClose = errors.New("front: connection closed after a final reply")

func newConn(s *Server, nc net.Conn) *Conn {
	c := &Conn{srv: s, raw: nc, nc: nc, log: s.log.With("remote", nc.RemoteAddr().String())}
	if tc, ok := nc.(*tls.Conn); ok {
		c.tls = tc
		c.raw = tc.NetConn()
	}
	return c
}

// FromConn returns the front connection behind nc, the net.Conn a go-smtp
// session gets from (*smtp.Conn).Conn() when it runs behind a front.
func FromConn(nc net.Conn) (*Conn, bool) {
	ic, ok := netwrap.Find[*innerConn](nc)
	if !ok {
		return nil, false
	}
	return ic.c, true
}

// RemoteAddr is the client's address.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// LocalAddr is the address the client connected to.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// TLS returns the TLS state once STARTTLS (or implicit TLS) completed.
func (c *Conn) TLS() (tls.ConnectionState, bool) {
	if c.tls == nil {
		return tls.ConnectionState{}, false
	}
	st := c.tls.ConnectionState()
	return st, st.HandshakeComplete
}

// Hostname is the name the client gave in EHLO or HELO; "" before.
func (c *Conn) Hostname() string { return c.helo }

// Advertised reports whether keyword was in the last EHLO reply sent to
// the client (false after HELO).
func (c *Conn) Advertised(keyword string) bool {
	for _, k := range c.keywords {
		kw, _, _ := strings.Cut(k, " ")
		if strings.EqualFold(kw, keyword) {
			return true
		}
	}
	return false
}

// MailParam returns the value of a MAIL parameter an extension claimed in
// the current transaction ("" for a parameter without value).
func (c *Conn) MailParam(keyword string) (value string, ok bool) {
	value, ok = c.params[strings.ToUpper(keyword)]
	return value, ok
}

// Recipients are the recipients accepted at RCPT in the current
// transaction, in order.
func (c *Conn) Recipients() []string { return append([]string(nil), c.rcpts...) }

// Logger is the connection's logger.
func (c *Conn) Logger() *slog.Logger { return c.log }

// abort closes everything from another goroutine (Close, ctx done).
func (c *Conn) abort() {
	c.abortOnce.Do(func() {
		c.nc.Close()
		if c.inner != nil {
			c.inner.Close()
		}
	})
}

func (c *Conn) serve(ctx context.Context) (err error) {
	o := &c.srv.opts
	stop := context.AfterFunc(ctx, c.abort)
	defer stop()
	defer func() {
		c.abort()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
	}()
	if c.tls != nil {
		c.tls.SetDeadline(time.Now().Add(o.Timeouts.Handshake))
		if err := c.tls.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("front: TLS handshake: %w", err)
		}
		c.tls.SetDeadline(time.Time{})
	}
	c.br = bufio.NewReaderSize(c.nc, 8192)
	c.bw = bufio.NewWriterSize(clientWriter{c}, 4096)

	if early, ok := c.earlyInput(); !ok {
		// RFC 5321 section 4.3.1; Exim's smtp_enforce_sync.
		c.log.Warn("front: SMTP protocol synchronization error (input sent without waiting for greeting)", "input", early)
		c.reply(554, "5.5.0 SMTP synchronization error")
		c.flush()
		return errors.New("front: input before the banner")
	}
	if err := c.startInner(ctx); err != nil {
		c.reply(421, "4.3.0 "+c.srv.opts.Hostname+" Service not available")
		c.flush()
		return err
	}
	// RFC 5321 section 4.2: the greeting. Held in the buffer until no
	// input is pending, so that early input gets banner and replies in
	// one write.
	c.reply(220, c.srv.opts.Hostname+" "+c.srv.opts.Greeting)

	for {
		line, err := c.readLine(o.Timeouts.Command)
		if err != nil {
			return c.readFailed(err)
		}
		if err := c.command(ctx, line); err != nil {
			c.flush()
			if errors.Is(err, errClose) {
				return nil
			}
			return err
		}
	}
}

// earlyInput applies the EarlyInputPolicy extensions. ok is false when
// input arrived before the banner and a policy refuses it; early is a
// sample of it for the log.
func (c *Conn) earlyInput() (early string, ok bool) {
	policy, wait := EarlyTolerate, time.Duration(0)
	for _, ext := range c.srv.opts.Extensions {
		p, isPolicy := ext.(EarlyInputPolicy)
		if !isPolicy {
			continue
		}
		e, w := p.EarlyInput(c)
		switch {
		case e == policy:
			wait = max(wait, w)
		case e == EarlyAllow, e == EarlyRefuse && policy == EarlyTolerate:
			policy, wait = e, w
		}
	}
	if policy == EarlyTolerate {
		return "", true
	}
	// Go cannot poll a socket without reading: a short deadline stands in
	// for Exim's "would block" check.
	c.nc.SetReadDeadline(time.Now().Add(max(wait, time.Millisecond)))
	p, err := c.br.Peek(1)
	c.nc.SetReadDeadline(time.Time{})
	if err != nil || len(p) == 0 {
		return "", true
	}
	if policy == EarlyAllow {
		return "", true
	}
	p, _ = c.br.Peek(min(c.br.Buffered(), 64))
	return string(p), false
}

// readFailed answers a failed read, RFC 5321 section 4.5.3.2.7.
func (c *Conn) readFailed(err error) error {
	switch {
	case errors.Is(err, errLineTooLong):
		c.reply(500, "5.5.2 Line too long, closing connection")
	case errors.Is(err, os.ErrDeadlineExceeded) && !c.msgDeadline.IsZero() && !time.Now().Before(c.msgDeadline):
		c.reply(421, "4.4.2 "+c.srv.opts.Hostname+" Message took too long, closing connection")
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.reply(421, "4.4.2 "+c.srv.opts.Hostname+" Timeout, closing connection")
	default:
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
			return nil
		}
		return err
	}
	c.flush()
	return err
}

var errLineTooLong = errors.New("front: line too long")

// readLine reads one line of input, without its line end. Before it
// waits for input, what was written is flushed (RFC 2920 section 3.1: the
// replies to a pipelined group go together when no more input is there).
// The whole line must arrive within timeout (and within the message's
// deadline, between BDAT chunks): the deadline is set once, not renewed
// by each byte.
func (c *Conn) readLine(timeout time.Duration) (string, error) {
	if c.br.Buffered() == 0 {
		if err := c.flush(); err != nil {
			return "", err
		}
	}
	c.nc.SetReadDeadline(c.deadline(time.Now().Add(timeout)))
	limit := c.srv.opts.Limits.LineLength + 2
	var line []byte
	for {
		frag, err := c.br.ReadSlice('\n')
		if len(line)+len(frag) > limit {
			return "", errLineTooLong
		}
		line = append(line, frag...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return "", err
		}
		break
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
	return s, nil
}

// reply buffers one reply line (or lines, joined by "\n") for the client.
func (c *Conn) reply(code int, text string) {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		fmt.Fprintf(c.bw, "%03d%s%s\r\n", code, sep, l)
	}
	c.log.Debug("front: reply", "code", code, "text", lines[0])
}

// replyError buffers an *smtp.SMTPError as a reply.
func (c *Conn) replyError(e *smtp.SMTPError) {
	c.reply(e.Code, formatText(e))
}

func (c *Conn) flush() error {
	if c.bw.Buffered() == 0 {
		return nil
	}
	if err := c.bw.Flush(); err != nil {
		return fmt.Errorf("front: write: %w", err)
	}
	return nil
}

// clientWriter is what c.bw writes to: the client connection, each write
// within Timeouts.Write. The buffer also writes by itself when it fills
// (replies to a large pipelined group, RFC 2920), so the deadline is set
// here and not only in flush.
type clientWriter struct{ c *Conn }

func (w clientWriter) Write(p []byte) (int, error) {
	w.c.nc.SetWriteDeadline(time.Now().Add(w.c.srv.opts.Timeouts.Write))
	return w.c.nc.Write(p)
}

// startInner opens a new in-memory connection to the go-smtp server and
// reads its greeting, which the front replaces by its own.
func (c *Conn) startInner(ctx context.Context) error {
	if c.inner != nil {
		c.inner.Close()
	}
	a, b := net.Pipe()
	ic := &innerConn{Conn: b, c: c}
	if err := c.srv.pl.offer(ctx, ic); err != nil {
		a.Close()
		b.Close()
		return err
	}
	c.inner, c.ic, c.ir = a, ic, bufio.NewReader(a)
	c.resetTx()
	c.helo, c.ehlo, c.keywords = "", false, nil
	rep, err := c.innerReply()
	if err != nil {
		return err
	}
	if rep.code != 220 {
		return fmt.Errorf("front: go-smtp greeting %d", rep.code)
	}
	return nil
}

func (c *Conn) resetTx() {
	c.params, c.mailNotes, c.inTx, c.rcpts, c.bdatBytes = nil, nil, false, nil, 0
	c.msgDeadline = time.Time{}
}

// deadline is t, or the message's deadline when that comes first.
func (c *Conn) deadline(t time.Time) time.Time {
	if !c.msgDeadline.IsZero() && c.msgDeadline.Before(t) {
		return c.msgDeadline
	}
	return t
}

// fill waits until client input is buffered, until the deadline at the
// latest; what was written is flushed first. A failure has been answered
// (readFailed) when the error is returned.
func (c *Conn) fill(deadline time.Time) error {
	if err := c.flush(); err != nil {
		return err
	}
	c.nc.SetReadDeadline(c.deadline(deadline))
	if _, err := c.br.Peek(1); err != nil {
		return c.readFailed(err)
	}
	return nil
}

// innerCmd sends a command line to go-smtp and reads its reply.
func (c *Conn) innerCmd(line string) (innerReply, error) {
	if err := c.innerWrite([]byte(line + "\r\n")); err != nil {
		return innerReply{}, err
	}
	return c.innerReply()
}

func (c *Conn) innerWrite(p []byte) error {
	c.inner.SetWriteDeadline(time.Now().Add(c.srv.opts.Timeouts.Backend))
	if _, err := c.inner.Write(p); err != nil {
		return fmt.Errorf("front: to go-smtp: %w", err)
	}
	return nil
}

func (c *Conn) innerReply() (innerReply, error) {
	c.inner.SetReadDeadline(time.Now().Add(c.srv.opts.Timeouts.Backend))
	rep, err := readInnerReply(c.ir)
	if err != nil {
		return rep, fmt.Errorf("front: from go-smtp: %w", err)
	}
	return rep, nil
}

// innerConn is the connection the go-smtp server gets: the in-memory pipe,
// with the client's addresses and TLS state. Sessions find the TLS state
// with ConnectionState (or by walking NetConn), the client conn with
// NetConn, the front's Conn with FromConn.
type innerConn struct {
	net.Conn
	c *Conn
	// failed, once set, is what every Read returns: the front makes
	// go-smtp's reader fail as it would fail itself (a line too long).
	failed atomic.Pointer[error]
}

// fail makes go-smtp's reads fail with err from now on, waking a Read
// that waits for input.
func (ic *innerConn) fail(err error) {
	ic.failed.Store(&err)
	ic.Conn.SetReadDeadline(time.Unix(1, 0))
}

// RemoteAddr is the client's address.
func (ic *innerConn) RemoteAddr() net.Addr { return ic.c.RemoteAddr() }

// LocalAddr is the address the client connected to.
func (ic *innerConn) LocalAddr() net.Addr { return ic.c.LocalAddr() }

// NetConn is the client connection: a *tls.Conn after TLS.
func (ic *innerConn) NetConn() net.Conn { return ic.c.nc }

// ConnectionState is the client connection's TLS state; its
// HandshakeComplete is false without TLS.
func (ic *innerConn) ConnectionState() tls.ConnectionState {
	st, _ := ic.c.TLS()
	return st
}

// Read reports the pipe's closing as net.ErrClosed, which go-smtp takes
// for an orderly end rather than an error to log, and the error given to
// fail once it was called.
func (ic *innerConn) Read(p []byte) (int, error) {
	if e := ic.failed.Load(); e != nil {
		return 0, *e
	}
	n, err := ic.Conn.Read(p)
	if e := ic.failed.Load(); e != nil && n == 0 {
		return 0, *e
	}
	if errors.Is(err, io.ErrClosedPipe) {
		err = net.ErrClosed
	}
	return n, err
}

// SetReadDeadline leaves the deadline of fail in place.
func (ic *innerConn) SetReadDeadline(t time.Time) error {
	if ic.failed.Load() != nil {
		return nil
	}
	return ic.Conn.SetReadDeadline(t)
}

// SetDeadline is SetReadDeadline and the write deadline.
func (ic *innerConn) SetDeadline(t time.Time) error {
	if err := ic.SetReadDeadline(t); err != nil {
		return err
	}
	return ic.Conn.SetWriteDeadline(t)
}

// Write is Read's counterpart.
func (ic *innerConn) Write(p []byte) (int, error) {
	n, err := ic.Conn.Write(p)
	if errors.Is(err, io.ErrClosedPipe) {
		err = net.ErrClosed
	}
	return n, err
}
