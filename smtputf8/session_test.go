package smtputf8

import (
	"crypto/tls"
	"encoding/base64"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/smtpkit/smtpkit/internal/pkitest"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// probe is an inner backend: a Sink's session that also records what
// FromConn says during DATA, and offers AUTH PLAIN.
type probe struct {
	sink smtptest.Sink
	mu   sync.Mutex
	seen []Transaction
}

func (p *probe) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s, err := p.sink.NewSession(c)
	return &probeSession{Session: s, p: p, c: c}, err
}

func (p *probe) transactions() []Transaction {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Transaction(nil), p.seen...)
}

type probeSession struct {
	smtp.Session
	p *probe
	c *smtp.Conn
}

func (s *probeSession) Data(r io.Reader) error {
	tx, ok := FromConn(s.c)
	if ok {
		s.p.mu.Lock()
		s.p.seen = append(s.p.seen, tx)
		s.p.mu.Unlock()
	}
	return s.Session.Data(r)
}

func (s *probeSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *probeSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user == "u" && pass == "p" {
			return nil
		}
		return smtp.ErrAuthFailed
	}), nil
}

func startServer(t *testing.T, configure ...func(*smtp.Server)) (*probe, *smtptest.Server) {
	t.Helper()
	p := &probe{}
	srv := smtptest.Start(t, WrapBackend(p), append([]func(*smtp.Server){func(s *smtp.Server) {
		s.EnableSMTPUTF8 = true
	}}, configure...)...)
	return p, srv
}

func TestSessionEnforces(t *testing.T) {
	p, srv := startServer(t)
	c := smtptest.Dial(t, srv.Addr)
	c.Expect(220)
	c.MustCmd("EHLO client.test", 250)

	// Without SMTPUTF8: 553 5.6.7 for a UTF-8 sender or recipient.
	r := c.MustCmd("MAIL FROM:<jörg@bücher.example>", 553)
	if !strings.Contains(r.Text(), "5.6.7") {
		t.Errorf("MAIL reply %v", r)
	}
	c.MustCmd("MAIL FROM:<a@example.com>", 250)
	r = c.MustCmd("RCPT TO:<ل@example.com>", 553)
	if !strings.Contains(r.Text(), "5.6.7") {
		t.Errorf("RCPT reply %v", r)
	}
	c.MustCmd("RCPT TO:<b@xn--bcher-kva.example>", 250)
	c.MustCmd("RSET", 250)

	// With SMTPUTF8: syntax and UTF-8 validity.
	c.MustCmd("MAIL FROM:<jörg@bücher.example> SMTPUTF8", 250)
	r = c.MustCmd("RCPT TO:<a..ü@example.com>", 553)
	if !strings.Contains(r.Text(), "5.1.3") {
		t.Errorf("RCPT reply %v", r)
	}
	if r := c.Cmd("RCPT TO:<\xc3\x28@example.com>"); r.Code/100 != 5 { // invalid UTF-8: go-smtp or us
		t.Errorf("invalid UTF-8 RCPT: %v", r)
	}
	c.MustCmd("RCPT TO:<ü@☃.net>", 553)
	c.MustCmd("RCPT TO:<ل@example.com>", 250)
	c.MustCmd("RCPT TO:<Jo\u0308rg@BÜCHER.example>", 250)
	c.MustCmd("DATA", 354)
	c.MustCmd("Subject: ü\r\n\r\nhi\r\n.", 250)
	c.MustCmd("RSET", 250)
	r = c.MustCmd("MAIL FROM:<\xe0\x80\xaf@example.com> SMTPUTF8", 553) // overlong
	if !strings.Contains(r.Text(), "5.1.7") {
		t.Errorf("MAIL reply %v", r)
	}
	c.MustCmd("QUIT", 221)

	msgs := p.sink.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	// Addresses go on unchanged, NFD included.
	if m.From != "jörg@bücher.example" || len(m.To) != 2 || m.To[1] != "Jo\u0308rg@BÜCHER.example" || !m.MailOpts.UTF8 {
		t.Errorf("message %+v", m)
	}
	if tx := p.transactions(); len(tx) != 1 || !tx[0].UTF8 || tx[0].With != "UTF8SMTP" {
		t.Errorf("transactions %+v", tx)
	}
}

func TestSessionReceivedWith(t *testing.T) {
	ca := pkitest.NewCA(t, pkitest.ECDSA)
	leaf := ca.Issue(t, pkitest.Leaf{Names: []string{"mx.test"}})
	p, srv := startServer(t, func(s *smtp.Server) {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{leaf.TLS()}}
	})
	c := smtptest.Dial(t, srv.Addr)
	c.Expect(220)
	c.MustCmd("EHLO client.test", 250)
	send := func(from string, utf8 bool) {
		t.Helper()
		cmd := "MAIL FROM:<" + from + ">"
		if utf8 {
			cmd += " SMTPUTF8"
		}
		c.MustCmd(cmd, 250)
		c.MustCmd("RCPT TO:<x@example.com>", 250)
		c.MustCmd("DATA", 354)
		c.MustCmd("Subject: x\r\n\r\nx\r\n.", 250)
	}
	send("a@example.com", false)
	c.StartTLS(&tls.Config{RootCAs: ca.Pool(), ServerName: "mx.test"})
	c.MustCmd("EHLO client.test", 250)
	send("ü@example.com", true)
	send("a@example.com", false)
	c.MustCmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00u\x00p")), 235)
	send("ü@example.com", true)
	send("a@example.com", false)
	c.MustCmd("QUIT", 221)

	want := []string{"ESMTP", "UTF8SMTPS", "ESMTPS", "UTF8SMTPSA", "ESMTPSA"}
	got := p.transactions()
	if len(got) != len(want) {
		t.Fatalf("transactions %+v", got)
	}
	for i, w := range want {
		if got[i].With != w {
			t.Errorf("transaction %d: With %q, want %q", i, got[i].With, w)
		}
	}
}

func TestReceivedWith(t *testing.T) {
	for _, c := range []struct {
		utf8, tls, auth bool
		want            string
	}{
		{false, false, false, "ESMTP"},
		{true, false, false, "UTF8SMTP"},
		{true, true, false, "UTF8SMTPS"},
		{true, false, true, "UTF8SMTPA"},
		{true, true, true, "UTF8SMTPSA"},
		{false, true, true, "ESMTPSA"},
	} {
		if got := ReceivedWith(c.utf8, c.tls, c.auth); got != c.want {
			t.Errorf("ReceivedWith(%v, %v, %v) = %q, want %q", c.utf8, c.tls, c.auth, got, c.want)
		}
	}
}
