package smtptest

import (
	"errors"
	"io"
	"net/smtp"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"
)

func TestSinkThroughStdlibClient(t *testing.T) {
	sink := &Sink{}
	srv := Start(t, sink)
	msg := "Subject: hi\r\n\r\nhello\r\n"
	if err := smtp.SendMail(srv.Addr, nil, "a@x.test", []string{"b@y.test", "c@y.test"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := sink.Messages()
	if len(got) != 1 {
		t.Fatalf("got %d messages", len(got))
	}
	m := got[0]
	if m.From != "a@x.test" || strings.Join(m.To, ",") != "b@y.test,c@y.test" || string(m.Data) != msg {
		t.Fatalf("unexpected message %+v", m)
	}
	if m.Helo == "" || m.RemoteAddr == nil {
		t.Fatalf("session context missing: %+v", m)
	}
}

func TestClientScriptAndReject(t *testing.T) {
	sink := &Sink{Reject: func(stage, arg string) error {
		if stage == "RCPT" && strings.HasPrefix(arg, "bad") {
			return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	}}
	srv := Start(t, sink, func(s *gosmtp.Server) { s.Domain = "custom.test" })
	c := Dial(t, srv.Addr)
	if rep := c.Expect(220); !strings.Contains(rep.Text(), "custom.test") {
		t.Fatalf("banner %v", rep)
	}
	ehlo := c.MustCmd("EHLO client.test", 250)
	if len(ehlo.Lines) < 2 || ehlo.Lines[0] != "Hello client.test" {
		t.Fatalf("EHLO reply %v", ehlo)
	}
	c.MustCmd("MAIL FROM:<a@x.test>", 250)
	if rep := c.Cmd("RCPT TO:<bad@y.test>"); rep.Code != 550 || !strings.Contains(rep.Text(), "5.1.1") {
		t.Fatalf("RCPT reply %v", rep)
	}
	c.MustCmd("RCPT TO:<good@y.test>", 250)
	c.MustCmd("DATA", 354)
	c.Write("Subject: x\r\n\r\n..dot\r\n.\r\n")
	c.Expect(250)
	c.MustCmd("QUIT", 221)
	if rep := c.ReadReply(); !errors.Is(rep.Err, io.EOF) {
		t.Fatalf("after QUIT: %v", rep)
	}
	got := sink.Messages()
	if len(got) != 1 || string(got[0].Data) != "Subject: x\r\n\r\n.dot\r\n" {
		t.Fatalf("got %+v", got)
	}
}

func TestReplyString(t *testing.T) {
	r := Reply{Code: 250, Lines: []string{"a", "b"}}
	if r.String() != "250 a\nb" {
		t.Fatal(r.String())
	}
	if (Reply{Err: io.EOF}).String() != "error: EOF" {
		t.Fatal("error string")
	}
}
