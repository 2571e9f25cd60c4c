package client

import (
	"crypto/tls"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// dsnExt adds RET=HDRS when the server offers DSN: a MailParamer.
type dsnExt struct{}

func (dsnExt) Name() string { return "dsn" }
func (dsnExt) MailParams(c *Conn, env *Envelope) []string {
	if _, ok := c.Extension("DSN"); ok {
		return []string{"RET=HDRS"}
	}
	return nil
}

func TestMailParamer(t *testing.T) {
	sink := &smtptest.Sink{}
	srv := smtptest.Start(t, sink, func(s *smtp.Server) { s.EnableDSN = true })
	c := dialT(t, srv.Addr, &Options{Extensions: []Extension{dsnExt{}}})
	send(t, c, &Envelope{From: "a@x.test", To: []string{"b@y.test"}, MailParams: []string{"ENVID=abc"}}, simpleMsg)
	o := sink.Messages()[0].MailOpts
	if o.Return != smtp.DSNReturnHeaders || o.EnvelopeID != "abc" {
		t.Fatalf("%+v", o)
	}
	// A malformed parameter is refused before anything is sent.
	_, err := c.Send(testCtx(t), &Envelope{From: "a@x.test", To: []string{"b@y.test"}, MailParams: []string{"X=1 RCPT"}}, strings.NewReader(""))
	if err == nil || c.Messages() != 1 {
		t.Fatalf("err %v, %d messages", err, c.Messages())
	}
}

// requireTLSExt refuses a message without TLS: a MailChecker.
type requireTLSExt struct{}

func (requireTLSExt) Name() string { return "requiretls" }
func (requireTLSExt) CheckMail(c *Conn, env *Envelope) error {
	if _, ok := c.TLS(); !ok {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 30}, Message: "REQUIRETLS support required"}
	}
	return nil
}

func TestMailChecker(t *testing.T) {
	srv := startTLS(t)
	c := dialT(t, srv.Addr, &Options{TLSPolicy: TLSNone, Extensions: []Extension{requireTLSExt{}}})
	res, err := c.Send(testCtx(t), &Envelope{From: "a@x.test", To: []string{"b@y.test", "c@y.test"}}, strings.NewReader(simpleMsg))
	var se *smtp.SMTPError
	if !errors.Is(err, ErrRefused) || !errors.As(err, &se) || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 30}) || !strings.Contains(err.Error(), "requiretls") {
		t.Fatalf("err %v", err)
	}
	if got := statuses(res); got != "b@y.test=permfailed 550,c@y.test=permfailed 550" || c.Messages() != 0 {
		t.Fatal(got)
	}
	// The connection is still good; with TLS the check passes.
	if err := c.Reset(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	c2 := dialT(t, srv.Addr, &Options{TLSConfig: &tls.Config{RootCAs: srv.CA.Pool()}, Extensions: []Extension{requireTLSExt{}}})
	send(t, c2, &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, simpleMsg)
	if len(srv.Sink.Messages()) != 1 {
		t.Fatal("not delivered")
	}

	// A plain error becomes a 451 4.3.0.
	res, err = c.Send(testCtx(t), &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, strings.NewReader(""))
	_ = res
	if !errors.Is(err, ErrRefused) {
		t.Fatal(err)
	}
	c3 := dialT(t, srv.Addr, &Options{TLSPolicy: TLSNone, Extensions: []Extension{checkFunc(func(*Conn, *Envelope) error { return errors.New("not today") })}})
	res, err = c3.Send(testCtx(t), &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, strings.NewReader(""))
	if !errors.Is(err, ErrRefused) || statuses(res) != "b@y.test=tempfailed 451" || res.Recipients[0].Reply.EnhancedCode != (smtp.EnhancedCode{4, 3, 0}) {
		t.Fatal(err, statuses(res))
	}
}

type checkFunc func(*Conn, *Envelope) error

func (checkFunc) Name() string                             { return "check" }
func (f checkFunc) CheckMail(c *Conn, env *Envelope) error { return f(c, env) }

// prdrExt is a minimal PRDR client (draft-hall-prdr-00): the MAIL
// parameter with two recipients or more where advertised, and the reading
// of 353, one reply per accepted recipient, and the final reply.
type prdrExt struct {
	mu     sync.Mutex
	phases []DataPhase
}

func (*prdrExt) Name() string { return "prdr" }

func (*prdrExt) MailParams(c *Conn, env *Envelope) []string {
	if _, ok := c.Extension("PRDR"); ok && len(env.To) > 1 {
		return []string{"PRDR"}
	}
	return nil
}

func (p *prdrExt) ReadDataReply(ph *DataPhase) (*DataReply, error) {
	p.mu.Lock()
	p.phases = append(p.phases, *ph)
	p.mu.Unlock()
	if ph.First.Code != 353 {
		return nil, nil // an ordinary reply: the engine's
	}
	dr := &DataReply{}
	for range ph.Accepted {
		r, err := ph.ReadReply()
		if err != nil {
			return nil, err
		}
		dr.Recipients = append(dr.Recipients, r)
	}
	final, err := ph.ReadReply()
	if err != nil {
		return nil, err
	}
	dr.Final = final
	return dr, nil
}

func TestDataReplyReader(t *testing.T) {
	for _, kw := range [][]string{{"PIPELINING", "PRDR"}, {"PIPELINING", "PRDR", "CHUNKING"}, {"PRDR"}} {
		t.Run(strings.Join(kw, "+"), func(t *testing.T) {
			ext := &prdrExt{}
			var lastMail string // used by the server goroutine only
			addr, log := loopServer(t, kw, func(cmd string) string {
				switch {
				case strings.HasPrefix(cmd, "RCPT TO:<bad"):
					return "550 5.1.1 unknown\r\n"
				case cmd == "." || strings.HasSuffix(cmd, "LAST"):
					if strings.Contains(lastMail, "PRDR") {
						return "353 PRDR content analysis beginning\r\n" +
							"250 PRDR R=<ok1@y.test> acceptance\r\n" +
							"550-content refused\r\n550 for ok2@y.test\r\n" +
							"250 id=1xVVuj message accepted for some recipients\r\n"
					}
					return "250 2.0.0 plain accept\r\n"
				case strings.HasPrefix(cmd, "MAIL"):
					lastMail = cmd
				}
				return okReply(cmd)
			})
			c := dialT(t, addr, &Options{Extensions: []Extension{ext}})
			res := send(t, c, &Envelope{From: "a@x.test", To: []string{"ok1@y.test", "bad@y.test", "ok2@y.test"}}, simpleMsg)
			if got := statuses(res); got != "ok1@y.test=accepted 250,bad@y.test=permfailed 550,ok2@y.test=permfailed 550" {
				t.Fatal(got)
			}
			if r := res.Recipients[2].Reply; r.Message != "content refused\nfor ok2@y.test" {
				t.Fatalf("per-recipient reply %+v", r)
			}
			if res.Data == nil || !strings.Contains(res.Data.Message, "accepted for some") {
				t.Fatalf("Data %+v", res.Data)
			}
			// One recipient: no PRDR, the hook passes, the engine reads.
			res = send(t, c, &Envelope{From: "a@x.test", To: []string{"ok1@y.test"}}, simpleMsg)
			if got := statuses(res); got != "ok1@y.test=accepted 250" || res.Data.Message != "plain accept" {
				t.Fatal(got, res.Data)
			}
			c.Close()
			log()
			ext.mu.Lock()
			defer ext.mu.Unlock()
			if len(ext.phases) != 2 || strings.Join(ext.phases[0].Accepted, ",") != "ok1@y.test,ok2@y.test" ||
				ext.phases[0].First.Code != 353 || ext.phases[0].Envelope.From != "a@x.test" || ext.phases[0].Conn != c {
				t.Fatalf("phases %+v", ext.phases)
			}
		})
	}
}

func TestDataReplyReaderNone(t *testing.T) {
	// Without a DataReplyReader a 353 is a protocol error.
	addr, _ := loopServer(t, []string{"PIPELINING"}, func(cmd string) string {
		if cmd == "." {
			return "353 what now\r\n"
		}
		return okReply(cmd)
	})
	c := dialT(t, addr, nil)
	res, err := c.Send(testCtx(t), &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, strings.NewReader(simpleMsg))
	if !errors.Is(err, errProtocol) || statuses(res) != "b@y.test=tempfailed 451" {
		t.Fatal(err, statuses(res))
	}
}

// earlyExt asks for early pipelining (PIPECONNECT) and records the outcome.
type earlyExt struct {
	starttls bool
	opened   []Opening
}

func (*earlyExt) Name() string { return "pipeconnect" }
func (e *earlyExt) PipelineOpening(c *Conn) (bool, bool) {
	if c.RemoteAddr() == nil || c.Hostname() != "client.test" {
		panic("no connection details")
	}
	return true, e.starttls
}
func (e *earlyExt) Opened(c *Conn, o *Opening) { e.opened = append(e.opened, *o) }

func TestEarlyPipeliner(t *testing.T) {
	// The server checks that EHLO arrives before it sends the banner.
	var early string
	addr := serve(t, func(s *script) {
		s.c.SetReadDeadline(time.Now().Add(testTimeout))
		early = s.line()
		s.write("220 script.test ESMTP\r\n250-script.test\r\n250-PIPELINING\r\n250 PIPECONNECT\r\n")
		s.quit()
	})
	ext := &earlyExt{}
	c := dialT(t, addr, &Options{Extensions: []Extension{ext}})
	if _, ok := c.Extension("PIPECONNECT"); !ok {
		t.Fatal("EHLO reply not read")
	}
	c.Close()
	if early != "EHLO client.test" {
		t.Fatalf("server got %q before its banner", early)
	}
	if len(ext.opened) != 1 {
		t.Fatal(ext.opened)
	}
	o := ext.opened[0]
	if !o.Early || o.Banner.Code != 220 || o.EHLO == nil || !strings.Contains(o.EHLO.Message, "PIPECONNECT") || o.TLSEHLO != nil || o.Err != nil {
		t.Fatalf("%+v", o)
	}
}

func TestEarlyPipelinerSTARTTLS(t *testing.T) {
	// go-smtp tolerates input before its banner: EHLO and STARTTLS go
	// together, then TLS, then EHLO again.
	srv := startTLS(t)
	ext := &earlyExt{starttls: true}
	c := dialT(t, srv.Addr, &Options{TLSConfig: &tls.Config{RootCAs: srv.CA.Pool()}, TLSPolicy: TLSRequired, Extensions: []Extension{ext}})
	if _, ok := c.TLS(); !ok {
		t.Fatal("no TLS")
	}
	send(t, c, &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, simpleMsg)
	o := ext.opened[0]
	if !o.Early || o.EHLO == nil || !strings.Contains(o.EHLO.Message, "STARTTLS") || o.TLSEHLO == nil || strings.Contains(o.TLSEHLO.Message, "STARTTLS") {
		t.Fatalf("%+v", o)
	}
	if s := srv.be.sessions(); len(s) != 1 || !s[0].TLS {
		t.Fatalf("%+v", s)
	}
}

func TestEarlyPipelinerRefused(t *testing.T) {
	// A server that does not want early input: EHLO refused, early
	// STARTTLS refused too, then HELO; the outcome is reported.
	addr := serve(t, func(s *script) {
		s.expect("EHLO")
		s.expect("STARTTLS")
		s.write("220 hi\r\n554 5.5.0 synchronization error\r\n503 5.5.1 no\r\n")
		s.expect("HELO")
		s.write("250 hi\r\n")
		s.quit()
	})
	ext := &earlyExt{starttls: true}
	c := dialT(t, addr, &Options{Extensions: []Extension{ext}})
	c.Close()
	o := ext.opened[0]
	if o.EHLO.Code != 554 || o.Err != nil {
		t.Fatalf("%+v", o)
	}

	// Same with TLS required: Dial fails, and says so to the extension.
	addr = serve(t, func(s *script) {
		s.expect("EHLO")
		s.expect("STARTTLS")
		s.write("220 hi\r\n554 5.5.0 synchronization error\r\n503 5.5.1 no\r\n")
		s.expect("HELO")
		s.write("250 hi\r\n")
		s.quit()
	})
	ext = &earlyExt{starttls: true}
	_, err := Dial(testCtx(t), addr, &Options{Hostname: "client.test", TLSPolicy: TLSRequired, Extensions: []Extension{ext}})
	if !errors.Is(err, ErrTLSRequired) || ext.opened[0].Err != err {
		t.Fatalf("err %v, opened %+v", err, ext.opened)
	}
}
