// Package fronttest runs a smtpkit front with a small recording go-smtp
// backend on a loopback port, for the tests of front, prdr and
// pipeconnect.
package fronttest

import (
	"crypto/tls"
	"errors"
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

// Data is used only without LMTP; the front always uses LMTPData.
func (s *session) Data(r io.Reader) error {
	return errors.New("fronttest: Data called behind a front")
}

func (s *session) LMTPData(r io.Reader, st smtp.StatusCollector) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	var params map[string]string
	if fc, ok := front.FromConn(s.c.Conn()); ok {
		params = map[string]string{}
		for _, k := range []string{"PRDR"} {
			if v, ok := fc.MailParam(k); ok {
				params[k] = v
			}
		}
	}
	for _, rcpt := range s.to {
		var rerr error
		if s.b.Refuse != nil {
			rerr = s.b.Refuse(rcpt, data)
		}
		if rerr == nil {
			s.b.mu.Lock()
			s.b.msgs = append(s.b.msgs, Message{Helo: s.helo, From: s.from, To: rcpt, Data: data, TLS: s.tls, Remote: s.remote, Params: params})
			s.b.mu.Unlock()
		}
		st.SetStatus(rcpt, rerr)
	}
	return nil
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
	fs := front.New(inner, opts)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fs.Serve(l) }()
	t.Cleanup(func() {
		fs.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("fronttest: Serve did not return")
		}
	})
	return &Server{Addr: l.Addr().String(), Front: fs, Inner: inner}
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
