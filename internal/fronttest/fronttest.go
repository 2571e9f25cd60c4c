// Package fronttest runs a smtpkit front with a small recording go-smtp
// backend on a loopback port, for the tests of front, prdr and
// pipeconnect.
package fronttest

import (
	"crypto/tls"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/front"
	"github.com/smtpkit/smtpkit/internal/netwrap"
	"github.com/smtpkit/smtpkit/internal/pkitest"
)

// Message is one copy a Backend delivered: one per recipient accepted at
// data time.
type Message struct {
	Helo string
	From string
	To   string
	Data []byte
	TLS  bool
	// Remote is the client address the session saw.
	Remote string
	// Params are the MAIL parameters an extension claimed.
	Params map[string]string
}

// Backend is a go-smtp backend whose sessions implement LMTPData: every
// recipient gets a copy, except those Refuse answers with an error.
type Backend struct {
	// Refuse, if set, decides each recipient at data time; a non-nil
	// error is its status.
	Refuse func(rcpt string, data []byte) error
	mu     sync.Mutex
	msgs   []Message
}

// DefaultRefuse refuses local parts starting "refuse" (550 5.7.1) and
// "defer" (451 4.2.0).
func DefaultRefuse(rcpt string, _ []byte) error {
	switch {
	case strings.HasPrefix(rcpt, "refuse"):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "content refused for " + rcpt}
	case strings.HasPrefix(rcpt, "defer"):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "try later for " + rcpt}
	}
	return nil
}

// Messages returns the copies delivered so far.
func (b *Backend) Messages() []Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Message(nil), b.msgs...)
}

// NewSession implements smtp.Backend.
func (b *Backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := netwrap.TLSState(c.Conn())
	return &session{b: b, c: c, helo: c.Hostname(), tls: isTLS, remote: c.Conn().RemoteAddr().String()}, nil
}

type session struct {
	b      *Backend
	c      *smtp.Conn
	helo   string
	tls    bool
	remote string
	from   string
	to     []string
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if strings.HasPrefix(to, "badrcpt") {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.to = append(s.to, to)
	return nil
}

// Data serves go-smtp without a front (Plain): one status for all, the
// first refusal, and then no copy is kept. A read error (a line too long,
// a broken connection) is returned as it is, for go-smtp to turn into a
// reply.
func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	for _, rcpt := range s.to {
		if err := s.refusal(rcpt, data); err != nil {
			return err
		}
	}
	for _, rcpt := range s.to {
		s.keep(rcpt, data)
	}
	return nil
}

func (s *session) LMTPData(r io.Reader, st smtp.StatusCollector) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	for _, rcpt := range s.to {
		err := s.refusal(rcpt, data)
		if err == nil {
			s.keep(rcpt, data)
		}
		st.SetStatus(rcpt, err)
	}
	return nil
}

func (s *session) refusal(rcpt string, data []byte) error {
	if s.b.Refuse == nil {
		return nil
	}
	return s.b.Refuse(rcpt, data)
}

// keep records rcpt's copy, with the MAIL parameters the front's
// extensions claimed.
func (s *session) keep(rcpt string, data []byte) {
	var params map[string]string
	if fc, ok := front.FromConn(s.c.Conn()); ok {
		params = map[string]string{}
		for _, k := range []string{"PRDR"} {
			if v, ok := fc.MailParam(k); ok {
				params[k] = v
			}
		}
	}
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, Message{Helo: s.helo, From: s.from, To: rcpt, Data: data, TLS: s.tls, Remote: s.remote, Params: params})
	s.b.mu.Unlock()
}

// Server is a front on a loopback port.
type Server struct {
	Addr  string
	Front *front.Server
	Inner *smtp.Server
}

// Start builds a go-smtp server for be (domain "mx.test", 10 MiB, 50
// recipients), lets configure adjust it, puts a front with opts before it
// and serves on 127.0.0.1:0 until the test ends.
func Start(t testing.TB, be smtp.Backend, opts *front.Options, configure ...func(*smtp.Server)) *Server {
	t.Helper()
	inner := newInner(be, configure)
	fs := front.New(inner, opts)
	addr := serve(t, fs.Serve, fs.Close)
	return &Server{Addr: addr, Front: fs, Inner: inner}
}

// Plain serves the go-smtp server Start would build, with the same
// configure functions, on its own without a front: what a client meets
// there is the reference for what the front must do alike (line limits,
// refused commands, timeouts). It returns the address.
func Plain(t testing.TB, be smtp.Backend, configure ...func(*smtp.Server)) string {
	t.Helper()
	srv := newInner(be, configure)
	return serve(t, srv.Serve, srv.Close)
}

func newInner(be smtp.Backend, configure []func(*smtp.Server)) *smtp.Server {
	inner := smtp.NewServer(be)
	inner.Domain = "mx.test"
	inner.MaxMessageBytes = 10 << 20
	inner.MaxRecipients = 50
	inner.ReadTimeout = time.Minute
	inner.WriteTimeout = time.Minute
	inner.ErrorLog = nopLogger{}
	for _, f := range configure {
		f(inner)
	}
	return inner
}

// serve runs serveFn on a listener on 127.0.0.1:0 until the test ends,
// then stops it with closeFn, and returns the address.
func serve(t testing.TB, serveFn func(net.Listener) error, closeFn func() error) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serveFn(l) }()
	t.Cleanup(func() {
		closeFn()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("fronttest: Serve did not return")
		}
	})
	return l.Addr().String()
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

// TLSConfig returns a server TLS config with a fresh self-signed
// certificate for "mx.test" and the matching client config.
func TLSConfig(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	return tlsConfigs(t)
}

func tlsConfigs(t testing.TB) (*tls.Config, *tls.Config) {
	ca := pkitest.NewCA(t, pkitest.ECDSA)
	leaf := ca.Issue(t, pkitest.Leaf{Names: []string{"mx.test"}})
	srv := &tls.Config{Certificates: []tls.Certificate{leaf.TLS()}, SessionTicketsDisabled: true}
	cli := &tls.Config{RootCAs: ca.Pool(), ServerName: "mx.test"}
	return srv, cli
}

// Goroutines waits until the number of goroutines falls back to at most
// before (within 5 s) and fails the test otherwise: no session may leave
// a goroutine or a pipe behind.
func Goroutines(t testing.TB, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, want at most %d:\n%s", n, before, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
