package front

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/internal/acceptretry"
)

// Limits on what a client may send. They are package constants so that a
// reader can find them; Options.Limits overrides each.
const (
	// MaxLineLength bounds a command line, without CRLF: RFC 5321
	// section 4.5.3.1.4 says 512 octets, go-smtp allows 2000 and so do
	// we. A longer line gets "500 5.5.2" and the connection is closed.
	MaxLineLength = 2000
	// MaxNonMailCommands bounds the commands a client may send without
	// starting a transaction (anything but MAIL, RCPT, DATA, BDAT, QUIT;
	// the count restarts at each accepted MAIL), as Exim's
	// smtp_accept_max_nonmail does: past it, "421 4.7.0" and close.
	MaxNonMailCommands = 20
	// MaxAuthLines bounds the client lines of one AUTH exchange (RFC
	// 4954 section 4: one per 334 challenge).
	MaxAuthLines = 10
	// MaxProtocolErrors bounds the lines a client may send that are no
	// command (an empty line, an unknown verb), as Exim's
	// smtp_max_synprot_errors and go-smtp do: past it, "500 5.5.1" and
	// close.
	MaxProtocolErrors = 3
)

// Default timeouts, from RFC 5321 section 4.5.3.2.
const (
	// DefaultCommandTimeout is how long the front waits for the next
	// command (4.5.3.2.7: the server timeout, 5 minutes); then "421
	// 4.4.2" and close.
	DefaultCommandTimeout = 5 * time.Minute
	// DefaultDataTimeout bounds each line of DATA content and each read
	// of a BDAT chunk (4.5.3.2.5 for the client's data blocks: 3
	// minutes): a line trickled byte by byte is cut when it takes
	// longer, as Exim's smtp_receive_timeout cuts it.
	DefaultDataTimeout = 3 * time.Minute
	// DefaultMessageTimeout bounds a whole message: from the 354 reply
	// to DATA, or from the first BDAT of a transaction, to the end of the
	// data. Per-line deadlines alone let a client keep a connection for
	// days at a few bytes per second; an hour passes 50 MB at 14 kB/s.
	DefaultMessageTimeout = time.Hour
	// DefaultBackendTimeout bounds each exchange with the go-smtp
	// server, including the session's work at the end of data (the
	// client waits 10 minutes for that reply, 4.5.3.2.6).
	DefaultBackendTimeout = 10 * time.Minute
	// DefaultHandshakeTimeout bounds a TLS handshake, from STARTTLS's
	// 220 (or the accept, for implicit TLS) to its end; a shorter
	// Timeouts.Command takes its place, as a handshake is client input
	// like a command line: a ClientHello trickled byte by byte is cut
	// when a command line would be.
	DefaultHandshakeTimeout = time.Minute
)

// Limits overrides the package constants; zero fields take them.
type Limits struct {
	LineLength      int // command line, without CRLF: default MaxLineLength
	NonMailCommands int // default MaxNonMailCommands
	AuthLines       int // default MaxAuthLines
	ProtocolErrors  int // default MaxProtocolErrors
	// DataLineLength bounds a line of DATA content, CRLF included (RFC
	// 5321 section 4.5.3.1.6 counts it; 1000 octets there). A longer
	// line is refused as go-smtp refuses it when it serves clients
	// itself: the session's reader fails with smtp.ErrTooLongLine, the
	// client gets the session's reply, then "500 5.4.0", and the
	// connection is closed. Default: the inner server's MaxLineLength
	// (go-smtp's 2000), or MaxLineLength when that is 0. BDAT chunks
	// have no line limit (RFC 3030 section 2; go-smtp lifts it for them
	// too).
	DataLineLength int
}

// Timeouts bound each wait; zero fields take the defaults. Command and
// Data are deadlines per line, not per read: input trickled byte by byte
// does not renew them; Message bounds what a line-by-line trickle would
// not. Hitting one gives "421 4.4.2" and closes.
type Timeouts struct {
	Command   time.Duration // each command line: DefaultCommandTimeout
	Data      time.Duration // each line of DATA, each read of BDAT: DefaultDataTimeout
	Message   time.Duration // a whole message, DATA or BDAT: DefaultMessageTimeout
	Backend   time.Duration // each exchange with go-smtp: DefaultBackendTimeout
	Handshake time.Duration // TLS handshake: DefaultHandshakeTimeout, or Command when shorter
	Write     time.Duration // each write to the client: Command's value
}

// Options configures a Server. A nil *Options means all defaults.
type Options struct {
	// Hostname is the name in the banner and the EHLO reply; default the
	// inner server's Domain.
	Hostname string
	// Greeting is the banner text after the hostname; default "ESMTP".
	Greeting string
	// TLSConfig enables STARTTLS (RFC 3207) and ServeTLS. Default: the
	// inner server's TLSConfig, which New takes over.
	TLSConfig *tls.Config
	// AllowInsecureAuth offers AUTH without TLS. Default: the inner
	// server's AllowInsecureAuth.
	AllowInsecureAuth bool
	// Extensions are the features plugged in; see Extension.
	Extensions []Extension
	Limits     Limits
	Timeouts   Timeouts
	// Logger gets a debug line per command and reply (never AUTH data)
	// and a warning for protocol errors; nil discards.
	Logger *slog.Logger
}

// Server is the protocol front: it accepts client connections, speaks
// SMTP with them and drives an unmodified go-smtp server in LMTP mode over
// an in-memory connection per client.
type Server struct {
	inner        *smtp.Server
	opts         Options
	requireTLS   bool // the inner server had EnableREQUIRETLS
	log          *slog.Logger
	pl           *pipeListener
	innerStarted sync.Once
	innerDone    chan error

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*Conn]struct{}
	closed    bool
	wg        sync.WaitGroup
	ctx       context.Context
	cancel    context.CancelFunc
}

// ErrServerClosed is returned by Serve after Close or Shutdown.
var ErrServerClosed = errors.New("front: server closed")

// New builds a front for inner, which it takes over: inner must not serve
// anything else. New sets inner.LMTP (go-smtp gives per-recipient data
// replies only in LMTP mode), moves inner.TLSConfig to the front (TLS is
// terminated by the front) and sets inner.AllowInsecureAuth (the front
// decides where AUTH is offered, by Options.AllowInsecureAuth or inner's
// former value), and clears inner.MaxLineLength and inner.ReadTimeout
// (Options.Limits and Options.Timeouts apply). Everything else of inner
// applies as configured: its Backend, Domain, MaxMessageBytes,
// MaxRecipients, Enable* flags, auth mechanisms.
func New(inner *smtp.Server, opts *Options) *Server {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Hostname == "" {
		o.Hostname = inner.Domain
	}
	if o.Hostname == "" {
		o.Hostname = "localhost"
	}
	if o.Greeting == "" {
		o.Greeting = "ESMTP"
	}
	if o.TLSConfig == nil {
		o.TLSConfig = inner.TLSConfig
	}
	o.AllowInsecureAuth = o.AllowInsecureAuth || inner.AllowInsecureAuth
	setDefault(&o.Limits.LineLength, MaxLineLength)
	setDefault(&o.Limits.NonMailCommands, MaxNonMailCommands)
	setDefault(&o.Limits.AuthLines, MaxAuthLines)
	setDefault(&o.Limits.ProtocolErrors, MaxProtocolErrors)
	setDefault(&o.Limits.DataLineLength, inner.MaxLineLength)
	setDefault(&o.Limits.DataLineLength, MaxLineLength)
	setDefault(&o.Timeouts.Command, DefaultCommandTimeout)
	setDefault(&o.Timeouts.Data, DefaultDataTimeout)
	setDefault(&o.Timeouts.Message, DefaultMessageTimeout)
	setDefault(&o.Timeouts.Backend, DefaultBackendTimeout)
	setDefault(&o.Timeouts.Handshake, min(DefaultHandshakeTimeout, o.Timeouts.Command))
	// A client that stops reading is cut as one that stops sending.
	setDefault(&o.Timeouts.Write, o.Timeouts.Command)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		inner:      inner,
		opts:       o,
		requireTLS: inner.EnableREQUIRETLS,
		log:        o.Logger,
		pl:         newPipeListener(),
		innerDone:  make(chan error, 1),
		listeners:  map[net.Listener]struct{}{},
		conns:      map[*Conn]struct{}{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	inner.LMTP = true
	inner.TLSConfig = nil
	inner.AllowInsecureAuth = true
	// The front enforces line lengths, on commands and on DATA content:
	// go-smtp would stop reading at a long line while the front still
	// writes, and both would wait for each other.
	inner.MaxLineLength = 0
	// The front's Timeouts bound the client. go-smtp waits on the pipe
	// for as long as the client takes; timing out there itself, it
	// would write a 421 nobody reads and fall out of step with us.
	inner.ReadTimeout = 0
	// The REQUIRETLS MAIL parameter stays accepted; the front advertises
	// the keyword after TLS, which go-smtp cannot see.
	return s
}

func setDefault[T int | time.Duration](p *T, v T) {
	if *p <= 0 {
		*p = v
	}
}

func (s *Server) startInner() {
	s.innerStarted.Do(func() {
		go func() { s.innerDone <- s.inner.Serve(s.pl) }()
	})
}

// Serve accepts connections on l and serves each on its own goroutine
// until Close or Shutdown; it then returns ErrServerClosed.
func (s *Server) Serve(l net.Listener) error { return s.serve(l, false) }

// ServeTLS is Serve for implicit TLS (RFC 8314 section 3.3, port 465):
// each connection starts with a TLS handshake with Options.TLSConfig.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.opts.TLSConfig == nil {
		return errors.New("front: ServeTLS without a TLSConfig")
	}
	return s.serve(l, true)
}

func (s *Server) serve(l net.Listener, implicitTLS bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var backoff acceptretry.Backoff
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || s.ctx.Err() != nil {
				return ErrServerClosed
			}
			if acceptretry.Temporary(err) {
				// As net/http does: back off from 5 ms to 1 s, so
				// that a process out of descriptors keeps serving
				// the connections it has and accepts again when
				// one ends, rather than exit.
				s.log.Warn("front: accept failed; retrying", "err", err)
				backoff.Wait(s.ctx, nil) //nolint:errcheck // s.ctx is checked above
				continue
			}
			return fmt.Errorf("front: accept: %w", err)
		}
		backoff.Reset()
		if implicitTLS {
			nc = tls.Server(nc, s.opts.TLSConfig)
		}
		go s.ServeConn(s.ctx, nc) //nolint:errcheck // logged
	}
}

// ServeConn serves one client connection and closes it. It returns when
// the session ends (QUIT, an error, ctx done, Close); the error is nil for
// an orderly end. A *tls.Conn is taken as implicit TLS: the handshake is
// run first.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) error {
	c := newConn(s, nc)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return ErrServerClosed
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.startInner()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	err := c.serve(ctx)
	if err != nil {
		s.log.Debug("front: session ended", "remote", nc.RemoteAddr(), "err", err)
	}
	return err
}

// Close closes the listeners and every connection at once, and stops the
// inner go-smtp server.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.closed = true
	s.cancel()
	var err error
	for l := range s.listeners {
		if e := l.Close(); e != nil && err == nil {
			err = e
		}
	}
	for c := range s.conns {
		c.abort()
	}
	s.mu.Unlock()
	s.wg.Wait()
	// The pipe listener is closed here too: go-smtp closes only the
	// listeners its Serve registered, which may not have happened yet.
	s.pl.Close()
	s.startInner()
	if e := s.inner.Close(); e != nil && !errors.Is(e, smtp.ErrServerClosed) && err == nil {
		err = e
	}
	<-s.innerDone
	return err
}

// Shutdown closes the listeners, waits until every session has ended or
// ctx is done, then closes the rest as Close does.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	for l := range s.listeners {
		l.Close()
	}
	s.closed = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	s.mu.Lock()
	s.closed = false
	s.mu.Unlock()
	err := s.Close()
	if errors.Is(err, ErrServerClosed) {
		err = nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// pipeListener hands the in-memory connections to the inner go-smtp
// server's Serve.
type pipeListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// offer gives conn to the inner server.
func (l *pipeListener) offer(ctx context.Context, c net.Conn) error {
	select {
	case l.ch <- c:
		return nil
	case <-l.done:
		return ErrServerClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "front" }
