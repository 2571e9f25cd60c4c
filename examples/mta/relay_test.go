package main

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/internal/pkitest"
	"github.com/smtpkit/smtpkit/internal/smtptest"
	"golang.org/x/crypto/bcrypt"
)

// relayConfig is testConfig with fast retries and DNS from srv, remote
// port set to the sink's.
func relayConfig(t *testing.T, dns *dnstest.Server, sinkAddr string) config {
	cfg := testConfig(t)
	cfg.DNS = dns.Addr()
	_, port, _ := net.SplitHostPort(sinkAddr)
	fmt.Sscan(port, &cfg.RemotePort)
	cfg.Retry = []time.Duration{200 * time.Millisecond}
	return cfg
}

func remoteWorld(t *testing.T) *dnstest.Server {
	return dnstest.Start(t,
		dnstest.Zone{Name: "remote.test", Text: `
			@   MX 10 mx
			mx  A  127.0.0.1`},
		dnstest.Zone{Name: "implicit.test", Text: `@ A 127.0.0.1`},
		dnstest.Zone{Name: "nullmx.test", Text: `@ MX 0 .`},
	)
}

// waitFor polls cond until it holds or fails the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sendMessage(t *testing.T, addr, from string, to []string, body string) {
	t.Helper()
	c := greet(t, addr)
	c.MustCmd("MAIL FROM:<"+from+">", 250)
	for _, r := range to {
		c.MustCmd("RCPT TO:<"+r+">", 250)
	}
	c.MustCmd("DATA", 354)
	c.Write(body + ".\r\n")
	c.Expect(250)
	c.MustCmd("QUIT", 221)
}

func TestRelayByMXWithDSNForRefusedRecipient(t *testing.T) {
	sink := &smtptest.Sink{Reject: func(stage, arg string) error {
		if stage == "RCPT" && strings.HasPrefix(arg, "nobody@") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	}}
	peer := smtptest.Start(t, sink)
	dns := remoteWorld(t)
	tm := startMTA(t, relayConfig(t, dns, peer.Addr))

	sendMessage(t, tm.addr, "sender@example.test",
		[]string{"a@remote.test", "b@remote.test", "nobody@remote.test", "c@implicit.test", "local@example.test"}, body)
	// The local copy is there at once.
	only(t, tm.messages(t, "local@example.test", "new"))
	waitFor(t, "two deliveries", func() bool { return len(sink.Messages()) == 2 })
	waitFor(t, "a DSN", func() bool { return len(tm.messages(t, "sender@example.test", "new")) == 1 })
	byDomain := map[string]smtptest.Message{}
	for _, m := range sink.Messages() {
		byDomain[domainOf(m.To[0])] = m
		if m.From != "sender@example.test" || !strings.HasSuffix(string(m.Data), "\r\n"+strings.ReplaceAll(body, "\r\n..", "\r\n.")) {
			t.Fatalf("relayed message %q from %s", m.Data, m.From)
		}
	}
	if got := strings.Join(byDomain["remote.test"].To, ","); got != "a@remote.test,b@remote.test" {
		t.Fatalf("remote.test got %s in one transaction", got)
	}
	if got := strings.Join(byDomain["implicit.test"].To, ","); got != "c@implicit.test" {
		t.Fatalf("implicit MX got %s", got)
	}
	_, dsn := only(t, tm.messages(t, "sender@example.test", "new"))
	for _, want := range []string{"Final-Recipient: rfc822; nobody@remote.test", "Status: 5.1.1", "Remote-MTA: dns; mx.remote.test"} {
		if !strings.Contains(string(dsn), want) {
			t.Fatalf("DSN lacks %q:\n%s", want, dsn)
		}
	}
	waitFor(t, "the spool to empty", func() bool {
		entries, _ := os.ReadDir(filepath.Join(tm.data, "spool"))
		return len(entries) == 0
	})
}

func TestRelayNullMXBouncesAtOnce(t *testing.T) {
	dns := remoteWorld(t)
	peer := smtptest.Start(t, &smtptest.Sink{})
	tm := startMTA(t, relayConfig(t, dns, peer.Addr))
	sendMessage(t, tm.addr, "sender@example.test", []string{"x@nullmx.test"}, body)
	waitFor(t, "a DSN", func() bool { return len(tm.messages(t, "sender@example.test", "new")) == 1 })
	_, dsn := only(t, tm.messages(t, "sender@example.test", "new"))
	if !strings.Contains(string(dsn), "Status: 5.1.10") {
		t.Fatalf("null MX DSN:\n%s", dsn)
	}
}

func TestRelayDeniedOutsideRelayFrom(t *testing.T) {
	cfg := testConfig(t)
	cfg.RelayFrom = nil
	tm := startMTA(t, cfg)
	c := greet(t, tm.addr)
	c.MustCmd("MAIL FROM:<s@x.test>", 250)
	expectCode(t, c.Cmd("RCPT TO:<a@remote.test>"), 550, "5.7.1")
	c.MustCmd("RCPT TO:<a@example.test>", 250)
}

func TestAuthPlainOverTLSAllowsRelay(t *testing.T) {
	dns := remoteWorld(t)
	sink := &smtptest.Sink{}
	peer := smtptest.Start(t, sink)
	cfg := relayConfig(t, dns, peer.Addr)
	cfg.RelayFrom = nil
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	cfg.Users = filepath.Join(t.TempDir(), "users")
	os.WriteFile(cfg.Users, []byte("# accounts\nalice:"+string(hash)+"\n"), 0o600)
	tm := startMTA(t, cfg)

	c := greet(t, tm.addr)
	if rep := c.MustCmd("EHLO client.test", 250); strings.Contains(rep.Text(), "AUTH") {
		t.Fatal("AUTH offered before TLS")
	}
	c.StartTLS(&tls.Config{InsecureSkipVerify: true})
	if rep := c.MustCmd("EHLO client.test", 250); !strings.Contains(rep.Text(), "AUTH PLAIN") {
		t.Fatalf("AUTH not offered after TLS: %v", rep)
	}
	expectCode(t, c.Cmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00alice\x00wrong"))), 535, "5.7.8")
	c.MustCmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00alice\x00s3cret")), 235)
	c.MustCmd("MAIL FROM:<alice@example.test>", 250)
	c.MustCmd("RCPT TO:<friend@remote.test>", 250)
	c.MustCmd("DATA", 354)
	c.Write(body + ".\r\n")
	c.Expect(250)
	waitFor(t, "the relayed message", func() bool { return len(sink.Messages()) == 1 })
	if got := string(sink.Messages()[0].Data); !strings.Contains(got, "with ESMTPSA") {
		t.Fatalf("Received does not say ESMTPSA:\n%s", got)
	}
}

func TestLoadUsersErrors(t *testing.T) {
	p := filepath.Join(t.TempDir(), "users")
	os.WriteFile(p, []byte("bob:not-a-hash\n"), 0o600)
	if _, err := loadUsers(p); err == nil {
		t.Fatal("bad hash accepted")
	}
	os.WriteFile(p, []byte("nocolon\n"), 0o600)
	if _, err := loadUsers(p); err == nil {
		t.Fatal("line without colon accepted")
	}
}

func TestRelayRetriesAfter421AndDrop(t *testing.T) {
	for _, mode := range []string{"421", "drop"} {
		t.Run(mode, func(t *testing.T) {
			var failed atomic.Int32
			sink := &smtptest.Sink{}
			sink.Reject = func(stage, arg string) error {
				if stage == "DATA" && failed.Add(1) == 1 {
					if mode == "drop" {
						return errDropConnection
					}
					return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "not now"}
				}
				return nil
			}
			peerSrv := smtptest.Start(t, dropBackend{sink})
			dns := remoteWorld(t)
			tm := startMTA(t, relayConfig(t, dns, peerSrv.Addr))
			sendMessage(t, tm.addr, "sender@example.test", []string{"r@remote.test"}, body)
			waitFor(t, "delivery after the retry", func() bool { return len(sink.Messages()) == 1 })
			if failed.Load() < 2 {
				t.Fatalf("delivered without a failed attempt first")
			}
			if n := len(tm.messages(t, "sender@example.test", "new")); n != 0 {
				t.Fatal("a temporary failure produced a DSN")
			}
		})
	}
}

var errDropConnection = errors.New("drop the connection")

// dropBackend closes the client's connection when the sink says
// errDropConnection: the MTA sees the peer vanish mid-DATA.
type dropBackend struct{ sink *smtptest.Sink }

func (d dropBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s, err := d.sink.NewSession(c)
	return dropSession{Session: s, conn: c}, err
}

type dropSession struct {
	smtp.Session
	conn *smtp.Conn
}

func (s dropSession) Data(r io.Reader) error {
	err := s.Session.Data(r)
	if errors.Is(err, errDropConnection) {
		s.conn.Conn().Close()
	}
	return err
}

// authSink adds AUTH PLAIN to a Sink's sessions and records who logged in,
// and every AUTH command it received.
type authSink struct {
	*smtptest.Sink
	user     atomic.Value
	attempts atomic.Int32
	pass     string // the password of user "relay"; "" means "pw"
}

func (a *authSink) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s, err := a.Sink.NewSession(c)
	return &authSession{Session: s, sink: a}, err
}

type authSession struct {
	smtp.Session
	sink *authSink
}

func (s *authSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *authSession) Auth(string) (sasl.Server, error) {
	s.sink.attempts.Add(1)
	return sasl.NewPlainServer(func(_, user, pass string) error {
		want := s.sink.pass
		if want == "" {
			want = "pw"
		}
		if user != "relay" || pass != want {
			return errors.New("bad credentials")
		}
		s.sink.user.Store(user)
		return nil
	}), nil
}

func TestSmarthostWithAuth(t *testing.T) {
	ca := pkitest.NewCA(t, pkitest.ECDSA)
	leaf := ca.Issue(t, pkitest.Leaf{Names: []string{"127.0.0.1"}})
	sink := &authSink{Sink: &smtptest.Sink{}}
	peer := smtptest.Start(t, sink, func(s *smtp.Server) {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{leaf.TLS()}}
	})
	cfg := testConfig(t)
	cfg.Smarthost, cfg.SmarthostUser, cfg.SmarthostPass = peer.Addr, "relay", "pw"
	cfg.SmarthostCA = leaf.WriteFiles(t, t.TempDir()).CA
	cfg.Retry = []time.Duration{200 * time.Millisecond}
	tm := startMTA(t, cfg)
	sendMessage(t, tm.addr, "sender@example.test", []string{"x@anywhere.test", "y@elsewhere.test"}, body)
	waitFor(t, "the smarthost to receive", func() bool { return len(sink.Messages()) == 1 })
	if got := strings.Join(sink.Messages()[0].To, ","); got != "x@anywhere.test,y@elsewhere.test" {
		t.Fatalf("smarthost got %s", got)
	}
	if sink.user.Load() != "relay" {
		t.Fatal("the MTA did not authenticate at the smarthost")
	}
}

func TestNoDSNForNullSender(t *testing.T) {
	sink := &smtptest.Sink{Reject: func(stage, arg string) error {
		if stage == "RCPT" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no"}
		}
		return nil
	}}
	peer := smtptest.Start(t, sink)
	dns := remoteWorld(t)
	tm := startMTA(t, relayConfig(t, dns, peer.Addr))
	sendMessage(t, tm.addr, "", []string{"gone@remote.test"}, body)
	waitFor(t, "the spool to empty", func() bool {
		entries, _ := os.ReadDir(filepath.Join(tm.data, "spool"))
		return len(entries) == 0
	})
	entries, _ := os.ReadDir(filepath.Join(tm.data, "maildir"))
	if len(entries) != 0 {
		t.Fatalf("a bounce was made for a null sender: %v", entries)
	}
}
