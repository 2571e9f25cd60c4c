package spf

import (
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"
	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// delivery is what the inner session saw of one message.
type delivery struct {
	from     string
	to       []string
	atMail   *Outcome // FromConn during Mail
	atData   *Outcome // FromConn during Data
	received string   // the header the inner session would add
}

// recorder is an inner backend that reads the outcome as an MTA would.
type recorder struct {
	auth bool // offer AUTH PLAIN, accepting any password

	mu  sync.Mutex
	got []delivery
}

func (r *recorder) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s := &recSession{r: r, c: c}
	if r.auth {
		return &authSession{s}, nil
	}
	return s, nil
}

func (r *recorder) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

type recSession struct {
	r   *recorder
	c   *smtp.Conn
	cur delivery
}

func (s *recSession) Mail(from string, _ *smtp.MailOptions) error {
	s.cur = delivery{from: from, atMail: FromConn(s.c)}
	return nil
}

func (s *recSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *recSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s.cur.atData = FromConn(s.c)
	if s.cur.atData != nil {
		s.cur.received = s.cur.atData.Received
	}
	s.r.mu.Lock()
	s.r.got = append(s.r.got, s.cur)
	s.r.mu.Unlock()
	return nil
}

func (s *recSession) Reset()        { s.cur = delivery{} }
func (s *recSession) Logout() error { return nil }

type authSession struct{ *recSession }

func (s *authSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *authSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if pass != "secret" {
			return errors.New("bad password")
		}
		return nil
	}), nil
}

func startSMTP(t *testing.T, rec *recorder, p *Policy) *smtptest.Server {
	t.Helper()
	return smtptest.Start(t, WrapBackend(rec, p), func(s *smtp.Server) { s.AllowInsecureAuth = true })
}

func dial(t *testing.T, srv *smtptest.Server, helo string) *smtptest.Client {
	t.Helper()
	c := smtptest.Dial(t, srv.Addr)
	c.Expect(220)
	c.MustCmd("EHLO "+helo, 250)
	return c
}

func policy(srv *dnstest.Server, reject, deferList string) *Policy {
	return &Policy{
		Checker: checker(srv, Options{}),
		Reject:  MustParseCondition(reject),
		Defer:   MustParseCondition(deferList),
	}
}

func TestSessionReject(t *testing.T) {
	dnsSrv := world(t)
	rec := &recorder{}
	srv := startSMTP(t, rec, policy(dnsSrv, "fail", "temperror"))
	c := dial(t, srv, "client.test")

	rep := c.MustCmd("MAIL FROM:<a@denied.example.test>", 550)
	want := "5.7.23 SPF fail for denied.example.test: denied.example.test explains: 127.0.0.1 is not a mail server of denied.example.test"
	if rep.Text() != want {
		t.Errorf("reply %q\nwant %q", rep.Text(), want)
	}
	// The session goes on; the inner session never saw the refused MAIL.
	c.MustCmd("MAIL FROM:<a@local.example.test>", 250)
	c.MustCmd("RCPT TO:<x@mx.test>", 250)
	c.MustCmd("DATA", 354)
	c.MustCmd("Subject: t\r\n\r\nhi\r\n.", 250)
	c.MustCmd("QUIT", 221)

	got := rec.deliveries()
	if len(got) != 1 || got[0].from != "a@local.example.test" {
		t.Fatalf("deliveries: %+v", got)
	}
}

func TestSessionDefer(t *testing.T) {
	dnsSrv := world(t)
	dnsSrv.SetMode("broken.test", dnstest.ServFail(2, ""))
	srv := startSMTP(t, &recorder{}, policy(dnsSrv, "fail", "temperror"))
	c := dial(t, srv, "client.test")
	rep := c.MustCmd("MAIL FROM:<a@broken.test>", 451)
	if !strings.HasPrefix(rep.Text(), "4.7.24 SPF temperror for broken.test: mx.example.org: error in processing during lookup of domain of a@broken.test: DNS server failure") {
		t.Errorf("reply %q", rep.Text())
	}
	// permerror is in neither list: it passes.
	c.MustCmd("MAIL FROM:<a@perm.example.test>", 250)
	c.MustCmd("RSET", 250)

	// Reject wins over Defer, and errors get X.7.24.
	srv2 := startSMTP(t, &recorder{}, policy(dnsSrv, "fail:permerror", "!pass"))
	c2 := dial(t, srv2, "client.test")
	if rep := c2.MustCmd("MAIL FROM:<a@perm.example.test>", 550); !strings.HasPrefix(rep.Text(), "5.7.24 SPF permerror for perm.example.test: ") {
		t.Errorf("permerror reply %q", rep.Text())
	}
	if rep := c2.MustCmd("MAIL FROM:<a@soft.example.test>", 451); !strings.HasPrefix(rep.Text(), "4.7.23 SPF softfail for soft.example.test: Please see http://www.open-spf.org/Why") {
		t.Errorf("softfail reply %q", rep.Text())
	}
}

func TestSessionPassThrough(t *testing.T) {
	dnsSrv := world(t)
	rec := &recorder{}
	srv := startSMTP(t, rec, policy(dnsSrv, "fail", "temperror"))
	c := dial(t, srv, "mail.example.test")

	send := func(from string) {
		t.Helper()
		c.MustCmd("MAIL FROM:<"+from+">", 250)
		c.MustCmd("RCPT TO:<x@mx.test>", 250)
		c.MustCmd("DATA", 354)
		c.MustCmd("Subject: t\r\n\r\nhi\r\n.", 250)
	}
	send("a@local.example.test")
	send("") // null sender: postmaster@mail.example.test
	send("a@none.example.test")
	c.MustCmd("MAIL FROM:<a@neutral.example.test>", 250)
	c.MustCmd("RSET", 250)
	c.MustCmd("QUIT", 221)

	got := rec.deliveries()
	if len(got) != 3 {
		t.Fatalf("%d deliveries", len(got))
	}
	for i, want := range []struct {
		result Result
		domain string
	}{{Pass, "local.example.test"}, {Pass, "mail.example.test"}, {None, "none.example.test"}} {
		d := got[i]
		if d.atData == nil || d.atData != d.atMail {
			t.Errorf("message %d: outcome at MAIL %p, at DATA %p", i, d.atMail, d.atData)
			continue
		}
		o := d.atData
		if o.Result != want.result || o.Domain != want.domain || o.IP.String() != "127.0.0.1" || o.HELO != "mail.example.test" {
			t.Errorf("message %d: %s for %s from %s helo %s", i, o.Result, o.Domain, o.IP, o.HELO)
		}
		if !strings.HasPrefix(d.received, "Received-SPF: "+string(want.result)+" (mx.example.org: ") {
			t.Errorf("message %d: header %q", i, d.received)
		}
	}
}

func TestSessionDomains(t *testing.T) {
	dnsSrv := world(t)
	rec := &recorder{}
	p := policy(dnsSrv, "fail", "temperror")
	p.Domains = []string{"checked.test", "Also-Checked.test."}
	srv := startSMTP(t, rec, p)
	c := dial(t, srv, "client.test")

	dnsSrv.ResetQueries()
	c.MustCmd("MAIL FROM:<a@denied.example.test>", 250)
	c.MustCmd("RCPT TO:<x@other.test>", 250)
	if q := dnsSrv.Queries(); len(q) != 0 {
		t.Errorf("queries before a listed recipient: %v", q)
	}
	rep := c.MustCmd("RCPT TO:<y@Checked.Test>", 550)
	if !strings.HasPrefix(rep.Text(), "5.7.23 SPF fail for denied.example.test: denied.example.test explains: ") {
		t.Errorf("reply %q", rep.Text())
	}
	c.MustCmd("RCPT TO:<z@other.test>", 250)
	c.MustCmd("RCPT TO:<w@also-checked.test>", 550)
	c.MustCmd("DATA", 354)
	c.MustCmd("Subject: t\r\n\r\nhi\r\n.", 250)

	n := 0
	for _, q := range dnsSrv.Queries() {
		if q.Type == dns.TypeTXT && q.Name == "denied.example.test." {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d record lookups for one transaction", n)
	}
	got := rec.deliveries()
	if len(got) != 1 || strings.Join(got[0].to, ",") != "x@other.test,z@other.test" {
		t.Fatalf("deliveries: %+v", got)
	}
	if got[0].atMail != nil || got[0].atData == nil || got[0].atData.Result != Fail {
		t.Errorf("outcome at MAIL %v, at DATA %v", got[0].atMail, got[0].atData)
	}

	// A transaction with no listed recipient is never checked.
	dnsSrv.ResetQueries()
	c.MustCmd("MAIL FROM:<a@denied.example.test>", 250)
	c.MustCmd("RCPT TO:<x@other.test>", 250)
	c.MustCmd("DATA", 354)
	c.MustCmd("Subject: t\r\n\r\nhi\r\n.", 250)
	if q := dnsSrv.Queries(); len(q) != 0 {
		t.Errorf("queries without a listed recipient: %v", q)
	}
	if got := rec.deliveries(); len(got) != 2 || got[1].atData != nil {
		t.Errorf("second message: %+v", got)
	}
}

func TestSessionAuthenticatedNotChecked(t *testing.T) {
	dnsSrv := world(t)
	rec := &recorder{auth: true}
	srv := startSMTP(t, rec, policy(dnsSrv, "fail", "temperror"))
	c := dial(t, srv, "client.test")

	// A failed AUTH leaves the session unauthenticated.
	bad := base64.StdEncoding.EncodeToString([]byte("\x00user\x00wrong"))
	c.MustCmd("AUTH PLAIN "+bad, 454)
	c.MustCmd("MAIL FROM:<a@denied.example.test>", 550)

	good := base64.StdEncoding.EncodeToString([]byte("\x00user\x00secret"))
	c.MustCmd("AUTH PLAIN "+good, 235)
	dnsSrv.ResetQueries()
	c.MustCmd("MAIL FROM:<a@denied.example.test>", 250)
	c.MustCmd("RCPT TO:<x@mx.test>", 250)
	c.MustCmd("DATA", 354)
	c.MustCmd("Subject: t\r\n\r\nhi\r\n.", 250)
	if q := dnsSrv.Queries(); len(q) != 0 {
		t.Errorf("queries for an authenticated session: %v", q)
	}
	if got := rec.deliveries(); len(got) != 1 || got[0].atData != nil {
		t.Errorf("deliveries: %+v", got)
	}
}

func TestSessionZeroPolicyRecordsOnly(t *testing.T) {
	dnsSrv := world(t)
	rec := &recorder{}
	// No Reject, no Defer: every result passes, and is recorded.
	srv := startSMTP(t, rec, &Policy{Checker: checker(dnsSrv, Options{})})
	c := dial(t, srv, "client.test")
	c.MustCmd("MAIL FROM:<a@denied.example.test>", 250)
	c.MustCmd("RCPT TO:<x@mx.test>", 250)
	c.MustCmd("DATA", 354)
	c.MustCmd("Subject: t\r\n\r\nhi\r\n.", 250)
	got := rec.deliveries()
	if len(got) != 1 || got[0].atData == nil || got[0].atData.Result != Fail {
		t.Fatalf("deliveries: %+v", got)
	}
}

func TestSessionLMTP(t *testing.T) {
	dnsSrv := world(t)
	rec := &recorder{}
	srv := smtptest.Start(t, WrapBackend(rec, policy(dnsSrv, "fail", "")), func(s *smtp.Server) { s.LMTP = true })
	c := smtptest.Dial(t, srv.Addr)
	c.Expect(220)
	c.MustCmd("LHLO client.test", 250)
	c.MustCmd("MAIL FROM:<a@denied.example.test>", 550)
	c.MustCmd("MAIL FROM:<a@local.example.test>", 250)
	c.MustCmd("RCPT TO:<x@mx.test>", 250)
	c.MustCmd("RCPT TO:<y@mx.test>", 250)
	c.MustCmd("DATA", 354)
	// LMTP: one reply per recipient (RFC 2033 section 4.2).
	c.MustCmd("Subject: t\r\n\r\nhi\r\n.", 250)
	c.Expect(250)
	got := rec.deliveries()
	if len(got) != 1 || len(got[0].to) != 2 || got[0].atData == nil || got[0].atData.Result != Pass {
		t.Fatalf("deliveries: %+v", got)
	}
}

// outerSession is another package's wrapper around ours.
type outerSession struct{ smtp.Session }

func (o outerSession) Unwrap() smtp.Session { return o.Session }

func TestFromConnThroughWrappers(t *testing.T) {
	dnsSrv := world(t)
	rec := &recorder{}
	inner := WrapBackend(rec, &Policy{Checker: checker(dnsSrv, Options{})})
	outer := smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s, err := inner.NewSession(c)
		return outerSession{s}, err
	})
	srv := smtptest.Start(t, outer)
	c := dial(t, srv, "client.test")
	c.MustCmd("MAIL FROM:<a@local.example.test>", 250)
	c.MustCmd("RCPT TO:<x@mx.test>", 250)
	c.MustCmd("DATA", 354)
	c.MustCmd("Subject: t\r\n\r\nhi\r\n.", 250)
	if got := rec.deliveries(); len(got) != 1 || got[0].atData == nil || got[0].atData.Result != Pass {
		t.Fatalf("deliveries: %+v", got)
	}
}
