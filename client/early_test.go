package client

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/rttproxy"
)

// cacheExt is an earlyExt that knows the server's capabilities.
type cacheExt struct {
	earlyExt
	ehlo, tlsEHLO []string
}

func (e *cacheExt) CachedEHLO(c *Conn, afterTLS bool) ([]string, bool) {
	if afterTLS {
		return e.tlsEHLO, e.tlsEHLO != nil
	}
	return e.ehlo, e.ehlo != nil
}

var _ EarlyEnveloper = (*cacheExt)(nil)

// earlyLines reads n lines that the client sent before the banner: the
// server writes nothing until it has them all.
func earlyLines(s *script, n int) []string {
	var got []string
	for range n {
		got = append(got, s.line())
	}
	return got
}

func TestDialSendEarly(t *testing.T) {
	var early []string
	var body string
	addr := serve(t, func(s *script) {
		early = earlyLines(s, 5)
		s.write("220 script.test ESMTP\r\n250-script.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 1000000\r\n" +
			"250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n354 go ahead\r\n")
		body = s.data()
		s.write("250 2.0.0 queued\r\n")
		// The connection carries another message.
		s.expect("MAIL FROM:<a@x.test> SIZE=")
		s.expect("RCPT TO:<b@y.test>")
		s.expect("DATA")
		s.write("250 ok\r\n250 ok\r\n354 go\r\n")
		s.data()
		s.write("250 queued\r\n")
		s.quit()
	})
	ext := &cacheExt{ehlo: []string{"PIPELINING", "SIZE 1000000", "8bitmime"}}
	msg := onlyReader{r: strings.NewReader(simpleMsg)}
	c, res, err := DialSend(testCtx(t), addr, &Options{Hostname: "client.test", Extensions: []Extension{ext}},
		&Envelope{From: "a@x.test", To: []string{"b@y.test", "nobody@y.test"}}, msg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Not a seeker: not read ahead, so no SIZE, and BODY=8BITMIME.
	want := []string{"EHLO client.test", "MAIL FROM:<a@x.test> BODY=8BITMIME", "RCPT TO:<b@y.test>", "RCPT TO:<nobody@y.test>", "DATA"}
	if strings.Join(early, "|") != strings.Join(want, "|") {
		t.Errorf("before the banner:\n%q\nwant\n%q", early, want)
	}
	if body != simpleMsg {
		t.Errorf("data %q", body)
	}
	if got := statuses(res); got != "b@y.test=accepted 250,nobody@y.test=permfailed 550" || res.Data.Code != 250 {
		t.Errorf("%s %v", got, res.Data)
	}
	if o := ext.opened[0]; !o.Early || o.Err != nil || c.Messages() != 1 {
		t.Errorf("%+v, %d messages", o, c.Messages())
	}
	send(t, c, &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, simpleMsg)
}

func TestDialSendNoCache(t *testing.T) {
	// An EarlyPipeliner without CachedEHLO: EHLO early, the envelope
	// after its reply, as Dial then Send.
	addr, log := loopServer(t, []string{"PIPELINING"}, okReply)
	c, res, err := DialSend(testCtx(t), addr, &Options{Hostname: "client.test", Extensions: []Extension{&earlyExt{}}},
		&Envelope{From: "a@x.test", To: []string{"b@y.test"}}, strings.NewReader(simpleMsg))
	if err != nil || statuses(res) != "b@y.test=accepted 250" {
		t.Fatal(err, statuses(res))
	}
	c.Close()
	if got := strings.Join(log(), "|"); !strings.HasPrefix(got, "MAIL FROM:<a@x.test> SIZE=") {
		t.Error(got)
	}
}

func TestDialSendBDATWaits(t *testing.T) {
	// With CHUNKING the envelope goes early, the chunk only after the
	// replies: it carries the message.
	var quiet bool
	var chunk string
	addr := serve(t, func(s *script) {
		earlyLines(s, 3)
		s.c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, err := s.br.ReadByte()
		quiet = err != nil
		s.write("220 script.test\r\n250-script.test\r\n250-PIPELINING\r\n250 CHUNKING\r\n250 ok\r\n250 ok\r\n")
		s.expect("BDAT ")
		b := make([]byte, len(simpleMsg))
		io.ReadFull(s.br, b)
		chunk = string(b)
		s.write("250 2.0.0 queued\r\n")
		s.quit()
	})
	ext := &cacheExt{ehlo: []string{"CHUNKING", "PIPELINING"}}
	c, res, err := DialSend(testCtx(t), addr, &Options{Hostname: "client.test", Extensions: []Extension{ext}},
		&Envelope{From: "a@x.test", To: []string{"b@y.test"}}, strings.NewReader(simpleMsg))
	if err != nil || statuses(res) != "b@y.test=accepted 250" {
		t.Fatal(err, statuses(res))
	}
	c.Close()
	if !quiet || chunk != simpleMsg {
		t.Errorf("BDAT sent before the replies (%v), chunk %q", !quiet, chunk)
	}
}

// earlyFailure runs DialSend against a server that reads the early
// envelope and answers with replies, then checks that the client closed
// the connection without sending any of the message.
func earlyFailure(t *testing.T, cached []string, replies string) (*cacheExt, error) {
	t.Helper()
	afterc := make(chan string, 1)
	addr := serve(t, func(s *script) {
		earlyLines(s, 4)
		s.write(replies)
		// No more replies: a client that waits for one sees EOF.
		s.c.(*net.TCPConn).CloseWrite()
		s.c.SetReadDeadline(time.Now().Add(testTimeout))
		b, _ := io.ReadAll(s.br)
		afterc <- string(b)
	})
	ext := &cacheExt{ehlo: cached}
	msg := onlyReader{r: strings.NewReader(simpleMsg)}
	c, res, err := DialSend(testCtx(t), addr, &Options{Hostname: "client.test", Extensions: []Extension{ext}},
		&Envelope{From: "a@x.test", To: []string{"b@y.test"}}, msg)
	if !errors.Is(err, ErrEarlyFailed) || c != nil {
		t.Fatalf("err %v, conn %v", err, c)
	}
	if got := statuses(res); got != "b@y.test=tempfailed 451" {
		t.Error(got)
	}
	// The server saw nothing more, and the message was not read.
	after := <-afterc
	if rest, _ := io.ReadAll(msg); after != "" || string(rest) != simpleMsg {
		t.Errorf("after the envelope the server got %q; left of the message %q", after, rest)
	}
	return ext, err
}

func TestDialSendCapabilitiesChanged(t *testing.T) {
	ext, err := earlyFailure(t, []string{"PIPELINING", "SIZE 1000"},
		"220 hi\r\n250-script.test\r\n250-PIPELINING\r\n250 SIZE 2000\r\n250 ok\r\n250 ok\r\n354 go\r\n")
	if !strings.Contains(err.Error(), "SIZE 1000 -> 2000") {
		t.Error(err)
	}
	if o := ext.opened[0]; !errors.Is(o.Err, ErrEarlyFailed) || o.EHLO == nil {
		t.Errorf("Opened got %+v", o)
	}
	earlyFailure(t, []string{"PIPELINING"},
		"220 hi\r\n250-script.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n250 ok\r\n250 ok\r\n354 go\r\n")
}

func TestDialSendSyncError(t *testing.T) {
	earlyFailure(t, []string{"PIPELINING"}, "554 5.5.0 SMTP synchronization error\r\n")
	// EHLO refused: no HELO with an envelope in flight.
	earlyFailure(t, []string{"PIPELINING"}, "220 hi\r\n550 no EHLO\r\n503 no\r\n503 no\r\n503 no\r\n")
}

func TestDialSendOutOfStep(t *testing.T) {
	_, err := earlyFailure(t, []string{"PIPELINING"},
		"220 hi\r\n250-script.test\r\n250 PIPELINING\r\n354 what\r\n250 ok\r\n354 go\r\n")
	if !errors.Is(err, errProtocol) {
		t.Error(err)
	}
	// The connection lost before the DATA reply.
	earlyFailure(t, []string{"PIPELINING"}, "220 hi\r\n250-script.test\r\n250 PIPELINING\r\n250 ok\r\n250 ok\r\n")
}

func TestDialSendAfterData(t *testing.T) {
	// Once the message went, an error is Send's: no ErrEarlyFailed.
	addr := serve(t, func(s *script) {
		earlyLines(s, 4)
		s.write("220 hi\r\n250-script.test\r\n250 PIPELINING\r\n250 ok\r\n250 ok\r\n354 go\r\n")
		s.data()
	})
	ext := &cacheExt{ehlo: []string{"PIPELINING"}}
	c, res, err := DialSend(testCtx(t), addr, &Options{Hostname: "client.test", Extensions: []Extension{ext}},
		&Envelope{From: "a@x.test", To: []string{"b@y.test"}}, strings.NewReader(simpleMsg))
	if err == nil || errors.Is(err, ErrEarlyFailed) || c == nil || statuses(res) != "b@y.test=tempfailed 451" {
		t.Fatal(err, c, statuses(res))
	}
	if _, err := c.Send(testCtx(t), &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, strings.NewReader(simpleMsg)); !errors.Is(err, ErrClosed) {
		t.Error(err)
	}
}

func TestDialSendRefusedEarly(t *testing.T) {
	// A message the cached capabilities cannot carry is not sent early:
	// Send decides with the server's reply.
	addr, log := loopServer(t, []string{"PIPELINING", "SMTPUTF8"}, okReply)
	ext := &cacheExt{ehlo: []string{"PIPELINING"}}
	c, res, err := DialSend(testCtx(t), addr, &Options{Hostname: "client.test", Extensions: []Extension{ext}},
		&Envelope{From: "a@x.test", To: []string{"bé@y.test"}}, strings.NewReader(simpleMsg))
	if err != nil || statuses(res) != "bé@y.test=accepted 250" {
		t.Fatal(err, statuses(res))
	}
	c.Close()
	if got := log(); !strings.HasSuffix(got[0], " SMTPUTF8") {
		t.Error(got)
	}
	// A nil envelope.
	if c, res, err := DialSend(testCtx(t), addr, nil, nil, nil); c != nil || res == nil || err == nil {
		t.Error(c, res, err)
	}
}

func TestDialSendSTARTTLS(t *testing.T) {
	// EHLO and STARTTLS early, then the envelope with the EHLO after the
	// handshake: 4 client flights for the whole message.
	srv := startTLS(t)
	proxy := rttproxy.Start(t, srv.Addr, time.Millisecond)
	opts := func(ext Extension) *Options {
		return &Options{Hostname: "client.test", TLSPolicy: TLSRequired, IgnoreKeywords: []string{"CHUNKING"},
			TLSConfig: &tls.Config{RootCAs: srv.CA.Pool(), ServerName: "mx.test"}, Extensions: []Extension{ext}}
	}
	learn := &cacheExt{}
	c := dialT(t, proxy.Addr, opts(learn))
	c.Close()
	o := learn.opened[0]
	ext := &cacheExt{earlyExt: earlyExt{starttls: true}, ehlo: lines(o.EHLO.Message), tlsEHLO: lines(o.TLSEHLO.Message)}
	before := proxy.ClientFlights()
	c, res, err := DialSend(testCtx(t), proxy.Addr, opts(ext), &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, strings.NewReader(simpleMsg))
	if err != nil || statuses(res) != "b@y.test=accepted 250" {
		t.Fatal(err, statuses(res))
	}
	if got := proxy.ClientFlights() - before; got != 4 {
		t.Errorf("%d client flights, want 4", got)
	}
	c.Close()
	if s := srv.be.sessions(); len(s) != 1 || !s[0].TLS {
		t.Errorf("%+v", s)
	}
}

// lines is the keyword lines of an EHLO reply's text.
func lines(text string) []string { return strings.Split(text, "\n")[1:] }
