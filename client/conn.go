package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

var (
	// ErrRefused is wrapped by Send's error when the message was refused
	// before anything of it was sent: by an extension's [MailChecker], or
	// because it needs an extension the server lacks (SMTPUTF8,
	// BINARYMIME), or because an address cannot be written in a command.
	// The connection is still usable; another server may take the message.
	ErrRefused = errors.New("client: message refused before MAIL")
	// ErrTLSRequired is wrapped by Dial's error when the policy is
	// TLSRequired and the server does not offer STARTTLS.
	ErrTLSRequired = errors.New("client: TLS required but STARTTLS not offered")
	// ErrClosed is wrapped by the error of any call on a connection that
	// was closed, handed over, or broken by an earlier error (which is
	// wrapped too).
	ErrClosed = errors.New("client: connection closed")
)

// aLongTimeAgo is a deadline that interrupts blocked I/O at once.
var aLongTimeAgo = time.Unix(1, 0)

// Conn is an SMTP client connection opened by Dial. Its methods must not be
// called concurrently.
type Conn struct {
	opts  Options
	log   *slog.Logger
	debug bool
	addr  string
	host  string

	netConn net.Conn  // as dialed; deadlines are set here
	conn    net.Conn  // netConn, or the TLS layer over it
	tlsConn *tls.Conn // after STARTTLS

	br *bufio.Reader
	bw *bufio.Writer

	banner reply
	hello  reply // the last EHLO or HELO reply
	ext    map[string]string

	messages int
	dirty    bool  // a transaction may be open: RSET before the next MAIL
	err      error // sticky: the connection cannot be used any more

	// Cancellation: the context of the current call, and whether it
	// ended and interrupted the I/O. mu orders watch's deadline against
	// the ones the call sets.
	mu          sync.Mutex
	ctx         context.Context
	gen         uint64 // counts watch calls; a late callback of an older one does nothing
	interrupted bool

	wTimeout time.Duration // write deadline set before each write

	// Reused buffers.
	rbuf []byte // reads from the message
	cbuf []byte // a BDAT chunk
	peek *bufio.Reader
}

func newConn(nc net.Conn, addr, host string, o Options) *Conn {
	c := &Conn{
		opts:    o,
		log:     o.Logger.With("remote", addr),
		addr:    addr,
		host:    host,
		netConn: nc,
		conn:    nc,
		ctx:     context.Background(),

		wTimeout: o.Timeouts.Command,
	}
	c.debug = c.log.Enabled(context.Background(), slog.LevelDebug)
	c.br = bufio.NewReader(connReader{c})
	c.bw = bufio.NewWriterSize(connWriter{c}, 32<<10)
	return c
}

// connReader reads from the current layer (plain, then TLS).
type connReader struct{ c *Conn }

func (r connReader) Read(p []byte) (int, error) { return r.c.conn.Read(p) }

// connWriter writes to the current layer, each write within wTimeout (RFC
// 5321 section 4.5.3.2.5 times each "TCP SEND" of the data).
type connWriter struct{ c *Conn }

func (w connWriter) Write(p []byte) (int, error) {
	if err := w.c.deadline(true, w.c.wTimeout); err != nil {
		return 0, err
	}
	return w.c.conn.Write(p)
}

// TLS returns the TLS state after STARTTLS; ok is false in plaintext.
func (c *Conn) TLS() (state tls.ConnectionState, ok bool) {
	if c.tlsConn == nil {
		return tls.ConnectionState{}, false
	}
	return c.tlsConn.ConnectionState(), true
}

// Extension reports whether the server advertised keyword in its last EHLO
// reply (after TLS, the one after TLS), and the parameters that followed
// it. Keywords listed in Options.IgnoreKeywords are not reported.
func (c *Conn) Extension(keyword string) (param string, ok bool) {
	param, ok = c.ext[strings.ToUpper(keyword)]
	return param, ok
}

// RemoteAddr is the address of the server (or of the proxy the Dialer went
// through).
func (c *Conn) RemoteAddr() net.Addr { return c.netConn.RemoteAddr() }

// Hostname is the name the engine gives in EHLO.
func (c *Conn) Hostname() string { return c.opts.Hostname }

// Messages counts the transactions started on this connection (MAIL sent),
// whatever their outcome, for a limit on reuse.
func (c *Conn) Messages() int { return c.messages }

// Reset sends RSET (RFC 5321 section 4.1.1.5) and ends any transaction. A
// reply other than 250 is returned as an error wrapping the *smtp.SMTPError
// and makes the connection unusable.
func (c *Conn) Reset(ctx context.Context) error {
	if err := c.usable(); err != nil {
		return err
	}
	stop := c.watch(ctx)
	defer stop()
	return c.rset()
}

func (c *Conn) rset() error {
	c.writeLine("RSET")
	if err := c.flush(c.opts.Timeouts.Command); err != nil {
		return err
	}
	rep, err := c.readReply(c.opts.Timeouts.Command)
	if err != nil {
		return err
	}
	return c.rsetReply(rep)
}

func (c *Conn) rsetReply(rep reply) error {
	if rep.class() != 2 {
		return c.fail(fmt.Errorf("client: RSET: %w", rep.smtpError(true)))
	}
	c.dirty = false
	return nil
}

// Close sends QUIT, waits a bounded time (Timeouts.Quit) for the reply and
// closes the connection. It does nothing after SMTPClient handed the
// connection over, or when called again.
func (c *Conn) Close() error {
	switch {
	case errors.Is(c.err, errHandedOver) || errors.Is(c.err, errClosedByUser):
		return nil
	case c.err != nil:
		// Broken: fail closed it already.
		c.err = errClosedByUser
		return nil
	}
	c.quit()
	broken := c.err != nil // QUIT failed, and fail closed the connection
	c.err = errClosedByUser
	if broken {
		return nil
	}
	return c.netConn.Close()
}

var (
	errClosedByUser = errors.New("closed by Close")
	errHandedOver   = errors.New("handed over to a go-smtp Client")
)

// quit sends QUIT and reads the reply within Timeouts.Quit; failures only
// get logged, the connection is closed next anyway.
func (c *Conn) quit() {
	stop := c.watch(context.Background())
	defer stop()
	c.writeLine("QUIT")
	if err := c.flush(c.opts.Timeouts.Quit); err != nil {
		c.log.Debug("QUIT", "err", err)
		return
	}
	if _, err := c.readReply(c.opts.Timeouts.Quit); err != nil {
		c.log.Debug("QUIT reply", "err", err)
	}
}

// usable returns an error wrapping ErrClosed when the connection cannot be
// used.
func (c *Conn) usable() error {
	if c.err == nil {
		return nil
	}
	if errors.Is(c.err, errClosedByUser) || errors.Is(c.err, errHandedOver) {
		return fmt.Errorf("%w: %w", ErrClosed, c.err)
	}
	return fmt.Errorf("%w after an earlier error: %w", ErrClosed, c.err)
}

// fail marks the connection unusable and returns err.
func (c *Conn) fail(err error) error {
	if c.err == nil {
		c.err = err
		c.netConn.Close()
	}
	return err
}

// watch makes the end of ctx interrupt the connection's I/O until the
// returned function is called.
func (c *Conn) watch(ctx context.Context) (stop func() bool) {
	c.mu.Lock()
	c.ctx = ctx
	c.gen++
	gen := c.gen
	c.interrupted = false
	c.mu.Unlock()
	return context.AfterFunc(ctx, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.gen == gen {
			c.interrupted = true
			c.netConn.SetDeadline(aLongTimeAgo)
		}
	})
}

// deadline sets the read or write deadline to timeout from now, or to the
// context's deadline when that is sooner.
func (c *Conn) deadline(write bool, timeout time.Duration) error {
	t := time.Now().Add(timeout)
	if dl, ok := c.ctx.Deadline(); ok && dl.Before(t) {
		t = dl
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.interrupted {
		return c.ioError(c.ctx.Err())
	}
	if write {
		c.netConn.SetWriteDeadline(t)
	} else {
		c.netConn.SetReadDeadline(t)
	}
	return nil
}

// ioError explains an I/O error: the context's error when the context
// ended, a timeout otherwise.
func (c *Conn) ioError(err error) error {
	if cerr := c.ctx.Err(); cerr != nil {
		if errors.Is(err, cerr) {
			return err
		}
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if dl, ok := c.ctx.Deadline(); ok && !time.Now().Before(dl) {
			return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
		}
		return fmt.Errorf("client: timeout: %w", err)
	}
	return err
}

// writeLine buffers one command line; flush sends it.
func (c *Conn) writeLine(line string) {
	if c.debug {
		c.log.Debug("C: " + redact(line))
	}
	c.bw.WriteString(line)
	c.bw.WriteString("\r\n")
}

// writeRcpt buffers "RCPT TO:<addr>" without building the string.
func (c *Conn) writeRcpt(addr string) {
	if c.debug {
		c.log.Debug("C: RCPT TO:<" + addr + ">")
	}
	c.bw.WriteString("RCPT TO:<")
	c.bw.WriteString(addr)
	c.bw.WriteString(">\r\n")
}

// writeSecret buffers a line that must not be logged (SASL responses).
func (c *Conn) writeSecret(line string) {
	if c.debug {
		c.log.Debug("C: ***")
	}
	c.bw.WriteString(line)
	c.bw.WriteString("\r\n")
}

// redact hides AUTH data in logs.
func redact(line string) string {
	if len(line) >= 4 && strings.EqualFold(line[:4], "AUTH") {
		if i := strings.IndexByte(line[5:], ' '); i >= 0 {
			return line[:5+i] + " ***"
		}
	}
	return line
}

// flush sends what is buffered, each write within timeout.
func (c *Conn) flush(timeout time.Duration) error {
	c.wTimeout = timeout
	if err := c.bw.Flush(); err != nil {
		return c.fail(fmt.Errorf("client: write: %w", c.ioError(err)))
	}
	return nil
}

// readReply reads one reply within timeout. Any error, and a 421 reply
// (RFC 5321 section 3.8: the server is closing the connection), make the
// connection unusable; for a 421 the reply is returned with a non-nil error
// wrapping it as *smtp.SMTPError.
func (c *Conn) readReply(timeout time.Duration) (reply, error) {
	if err := c.deadline(false, timeout); err != nil {
		return reply{}, c.fail(err)
	}
	rep, err := readReply(c.br, c.opts.Limits.ReplyLines, c.opts.Limits.ReplyLineLength)
	if err != nil {
		return reply{}, c.fail(fmt.Errorf("client: read reply: %w", c.ioError(err)))
	}
	if c.debug {
		c.log.Debug(fmt.Sprintf("S: %d %s", rep.code, rep.text()))
	}
	if rep.code == 421 {
		return rep, c.fail(fmt.Errorf("client: server closing connection: %w", rep.smtpError(true)))
	}
	return rep, nil
}
