package requiretls

import (
	"crypto/tls"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/smtpkit/smtpkit/internal/pkitest"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// probe is an inner backend: a Sink whose sessions record the Status at
// the end of DATA, and call Require for recipients "upgrade@...".
type probe struct {
	sink smtptest.Sink
	mu   sync.Mutex
	seen []Status
}

func (p *probe) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s, err := p.sink.NewSession(c)
	return &probeSession{Session: s, p: p, c: c}, err
}

func (p *probe) statuses() []Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Status(nil), p.seen...)
}

type probeSession struct {
	smtp.Session
	p *probe
	c *smtp.Conn
}

func (s *probeSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	if strings.HasPrefix(to, "upgrade@") && !Require(s.c) {
		return &smtp.SMTPError{Code: 451, Message: "Require failed"}
	}
	return s.Session.Rcpt(to, opts)
}

func (s *probeSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if st, ok := FromConn(s.c); ok {
		s.p.mu.Lock()
		s.p.seen = append(s.p.seen, st)
		s.p.mu.Unlock()
	}
	return s.Session.Data(strings.NewReader(string(b)))
}

// tlsServer starts a go-smtp server with REQUIRETLS and a certificate for
// mx.test, behind a Session with p.
func tlsServer(t *testing.T, p *Policy, leaf *pkitest.Cert, requiretls bool) (*probe, *smtptest.Server) {
	t.Helper()
	pr := &probe{}
	srv := smtptest.Start(t, WrapBackend(pr, p), func(s *smtp.Server) {
		s.EnableREQUIRETLS = requiretls
		if leaf != nil {
			s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{leaf.TLS()}}
		}
	})
	return pr, srv
}

func TestServer(t *testing.T) {
	ca := pkitest.NewCA(t, pkitest.ECDSA)
	leaf := ca.Issue(t, pkitest.Leaf{Names: []string{"mx.test"}})
	upgradeFrom := func(_ *smtp.Conn, from string, _ *smtp.MailOptions) bool { return from == "policy@example.com" }
	pr, srv := tlsServer(t, &Policy{Upgrade: upgradeFrom}, leaf, true)

	c := smtptest.Dial(t, srv.Addr)
	c.Expect(220)
	if r := c.MustCmd("EHLO client.test", 250); strings.Contains(r.Text(), "REQUIRETLS") {
		t.Errorf("REQUIRETLS advertised before TLS: %v", r)
	}
	// RFC 8689 section 4.1: not on plaintext, whatever go-smtp says.
	r := c.MustCmd("MAIL FROM:<a@example.com> REQUIRETLS", 523)
	if !strings.Contains(r.Text(), "5.7.10") {
		t.Errorf("reply %v", r)
	}
	send := func(from, params, to, msg string) {
		t.Helper()
		c.MustCmd("MAIL FROM:<"+from+">"+params, 250)
		c.MustCmd("RCPT TO:<"+to+">", 250)
		c.MustCmd("DATA", 354)
		c.MustCmd(msg+"\r\n.", 250)
	}
	// Plaintext without REQUIRETLS is fine, and the header is read.
	send("a@example.com", "", "b@example.com", "TLS-Required: No\r\n\r\nx")

	c.StartTLS(&tls.Config{RootCAs: ca.Pool(), ServerName: "mx.test"})
	if r := c.MustCmd("EHLO client.test", 250); !strings.Contains(r.Text(), "REQUIRETLS") {
		t.Errorf("REQUIRETLS not advertised after TLS: %v", r)
	}
	send("a@example.com", " REQUIRETLS", "b@example.com", "Subject: x\r\n\r\nx")
	send("a@example.com", " REQUIRETLS", "b@example.com", "TLS-Required: No\r\n\r\nx") // header ignored
	send("policy@example.com", "", "b@example.com", "TLS-Required: No\r\n\r\nx")       // local policy
	send("a@example.com", "", "upgrade@example.com", "Subject: x\r\n\r\nx")            // Require
	send("a@example.com", "", "b@example.com", "Subject: x\r\n\r\nx")
	c.MustCmd("QUIT", 221)

	want := []Status{
		{TLSOptional: true},
		{Requested: true, Required: true},
		{Requested: true, Required: true},
		{Required: true},
		{Required: true},
		{},
	}
	got := pr.statuses()
	if len(got) != len(want) {
		t.Fatalf("statuses %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("message %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if m := pr.sink.Messages(); len(m) != 6 || !m[1].MailOpts.RequireTLS {
		t.Errorf("messages %+v", m)
	}
	if want[1].Comment() != "REQUIRETLS" || want[0].Comment() != "TLS-Required: No" || want[5].Comment() != "" {
		t.Error("Comment")
	}
}
