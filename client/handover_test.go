package client

import (
	"crypto/tls"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/smtpkit/smtpkit/internal/netwrap"
)

func TestSMTPClientAfterSTARTTLS(t *testing.T) {
	srv := startAuth(t)
	c := dialT(t, srv.Addr, &Options{
		TLSConfig: &tls.Config{RootCAs: srv.CA.Pool()},
		TLSPolicy: TLSRequired,
		Auth:      sasl.NewPlainClient("", "me", "secret"),
	})
	// An engine message first, so the hand-over follows real use.
	send(t, c, &Envelope{From: "a@x.test", To: []string{"first@y.test"}}, simpleMsg)

	cl, err := c.SMTPClient()
	if err != nil {
		t.Fatal(err)
	}
	// go-smtp's own greeting is swallowed: it gets the engine's EHLO
	// reply, the one after TLS (AUTH listed, STARTTLS not).
	if ok, _ := cl.Extension("AUTH"); !ok {
		t.Fatal("go-smtp client does not see the cached EHLO reply")
	}
	if ok, _ := cl.Extension("STARTTLS"); ok {
		t.Fatal("go-smtp client sees the EHLO reply from before TLS")
	}
	if err := cl.Mail("a@x.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := cl.Rcpt("second@y.test", nil); err != nil {
		t.Fatal(err)
	}
	w, err := cl.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "Subject: via go-smtp\r\n\r\n.dot\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Quit(); err != nil {
		t.Fatal(err)
	}

	msgs := srv.Sink.Messages()
	if len(msgs) != 2 || msgs[1].To[0] != "second@y.test" || string(msgs[1].Data) != "Subject: via go-smtp\r\n\r\n.dot\r\n" {
		t.Fatalf("%+v", msgs)
	}
	// The server saw one session, under TLS, with our EHLO name (not
	// go-smtp's "localhost").
	for _, s := range srv.be.sessions() {
		if !s.TLS || s.Helo != "client.test" {
			t.Fatalf("server saw %+v", s)
		}
	}
	// The engine is out of the way.
	if _, err := c.Send(testCtx(t), &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, strings.NewReader("")); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	if _, err := c.SMTPClient(); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSMTPClientHello(t *testing.T) {
	// A caller's Hello is swallowed too; an unfinished transaction is
	// reset first; netwrap finds the TLS layer under the wrapper.
	srv := startTLS(t)
	addr, log := loopServer(t, []string{"PIPELINING"}, func(cmd string) string {
		switch {
		case strings.HasPrefix(cmd, "RCPT"):
			return "550 no\r\n"
		case cmd == "DATA":
			return "554 no valid recipients\r\n"
		}
		return okReply(cmd)
	})
	c := dialT(t, addr, &Options{IgnoreKeywords: []string{"SIZE"}})
	send(t, c, &Envelope{From: "a@x.test", To: []string{"b@y.test"}}, simpleMsg) // leaves MAIL open
	cl, err := c.SMTPClient()
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Hello("other.test"); err != nil {
		t.Fatal(err)
	}
	if err := cl.Noop(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Quit(); err != nil {
		t.Fatal(err)
	}
	if got := join(log()); got != "MAIL FROM:<a@x.test>|RCPT TO:<b@y.test>|DATA|RSET|NOOP|QUIT" {
		t.Fatalf("server got %s", got)
	}

	c2 := dialT(t, srv.Addr, &Options{TLSConfig: &tls.Config{RootCAs: srv.CA.Pool()}})
	cl2, err := c2.SMTPClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	// The wrapper type (go-smtp's Client does not expose the one it got)
	// leads netwrap to the TLS layer.
	if _, ok := netwrap.TLSState(&replayConn{Conn: c2.conn}); !ok {
		t.Fatal("netwrap does not find TLS under the wrapper")
	}
}

func TestIsGreeting(t *testing.T) {
	for line, want := range map[string]bool{
		"EHLO x\r\n": true, "helo x\r\n": true, "LHLO x\r\n": true, "EHLO\r\n": true,
		"EHLOX\r\n": false, "MAIL FROM:<>\r\n": false, "EH\r\n": false,
	} {
		if isGreeting([]byte(line)) != want {
			t.Errorf("%q", line)
		}
	}
}

func TestReplayConnNotGreeting(t *testing.T) {
	// If the first line written is not a greeting it goes through, split
	// over writes, and the cached reply is not given.
	var lines []string
	addr := serve(t, func(s *script) {
		s.greet()
		lines = append(lines, s.expect("NOOP"))
		s.write("250 noop ok\r\n")
		s.quit()
	})
	c := dialT(t, addr, &Options{TLSPolicy: TLSNone})
	rc := &replayConn{Conn: c.conn, hello: c.hello.wire()}
	rc.out = c.banner.wire()
	buf := make([]byte, 100)
	n, _ := rc.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "220 script.test") {
		t.Fatalf("banner %q", buf[:n])
	}
	rc.Write([]byte("NO"))
	rc.Write([]byte("OP\r\n"))
	n, err := rc.Read(buf)
	if err != nil || string(buf[:n]) != "250 noop ok\r\n" {
		t.Fatalf("%q %v", buf[:n], err)
	}
	rc.Write([]byte("QUIT\r\n"))
	rc.Read(buf)
	c.err = errHandedOver
}
