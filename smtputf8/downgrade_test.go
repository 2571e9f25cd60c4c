package smtputf8

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

func dialSink(t *testing.T, utf8 bool) (*smtptest.Sink, *client.Conn, context.Context) {
	t.Helper()
	sink := &smtptest.Sink{}
	srv := smtptest.Start(t, sink, func(s *smtp.Server) { s.EnableSMTPUTF8 = utf8 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	c, err := client.Dial(ctx, srv.Addr, &client.Options{Hostname: "relay.test", TLSPolicy: client.TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return sink, c, ctx
}

const asciiMsg = "From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n"

func TestSendWithSMTPUTF8(t *testing.T) {
	sink, c, ctx := dialSink(t, true)
	env := &client.Envelope{From: "jörg@bücher.example", To: []string{"ل@example.com", "b@bücher.example"}}
	res, err := Send(ctx, c, env, strings.NewReader(asciiMsg))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Recipients {
		if r.Status != client.Accepted {
			t.Errorf("%s: %v %v", r.Address, r.Status, r.Reply)
		}
	}
	m := sink.Messages()
	if len(m) != 1 || m[0].From != env.From || m[0].To[0] != "ل@example.com" || m[0].To[1] != "b@bücher.example" || !m[0].MailOpts.UTF8 {
		t.Fatalf("received %+v", m)
	}
}

func TestSendDowngrade(t *testing.T) {
	sink, c, ctx := dialSink(t, false)
	env := &client.Envelope{
		From: "a@bücher.example",
		To:   []string{"b@bücher.example", "ل@example.com", "c@example.com", "d@☃.net"},
	}
	res, err := Send(ctx, c, env, strings.NewReader(asciiMsg))
	if err != nil {
		t.Fatal(err)
	}
	want := []client.Status{client.Accepted, client.PermFailed, client.Accepted, client.PermFailed}
	for i, r := range res.Recipients {
		if r.Address != env.To[i] || r.Status != want[i] {
			t.Errorf("recipient %d: %+v, want %v", i, r, want[i])
		}
		if r.Status == client.PermFailed && (r.Reply.Code != 553 || r.Reply.EnhancedCode != (smtp.EnhancedCode{5, 6, 7})) {
			t.Errorf("recipient %d: reply %v", i, r.Reply)
		}
	}
	if env.From != "a@bücher.example" || env.To[0] != "b@bücher.example" {
		t.Error("Send modified the envelope")
	}
	m := sink.Messages()
	if len(m) != 1 {
		t.Fatalf("received %+v", m)
	}
	if m[0].From != "a@xn--bcher-kva.example" || strings.Join(m[0].To, ",") != "b@xn--bcher-kva.example,c@example.com" || m[0].MailOpts.UTF8 {
		t.Errorf("received %+v", m[0])
	}
}

func TestSendCannotDowngrade(t *testing.T) {
	for name, env := range map[string]*client.Envelope{
		"header":       {From: "a@example.com", To: []string{"b@example.com"}, UTF8: true},
		"sender":       {From: "ü@example.com", To: []string{"b@example.com"}},
		"no recipient": {From: "a@example.com", To: []string{"ü@example.com"}},
	} {
		t.Run(name, func(t *testing.T) {
			sink, c, ctx := dialSink(t, false)
			res, err := Send(ctx, c, env, strings.NewReader(asciiMsg))
			if !errors.Is(err, client.ErrRefused) {
				t.Errorf("err %v", err)
			}
			for _, r := range res.Recipients {
				if r.Status != client.PermFailed || r.Reply != ReplyCannotDowngrade {
					t.Errorf("%+v", r)
				}
			}
			if len(sink.Messages()) != 0 {
				t.Error("something was sent")
			}
			// The connection is still usable.
			if res, err := Send(ctx, c, &client.Envelope{From: "a@example.com", To: []string{"b@example.com"}}, strings.NewReader(asciiMsg)); err != nil || res.Recipients[0].Status != client.Accepted {
				t.Errorf("next message: %v %+v", err, res)
			}
		})
	}
}

func TestALabelAddress(t *testing.T) {
	for in, want := range map[string]string{
		"":                     "",
		"postmaster":           "postmaster",
		"a@example.com":        "a@example.com",
		"a@Bücher.example":     "a@xn--bcher-kva.example",
		`"a@b"@bücher.example`: `"a@b"@xn--bcher-kva.example`,
	} {
		if got, err := ALabelAddress(in); err != nil || got != want {
			t.Errorf("ALabelAddress(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ALabelAddress("ü@example.com"); !errors.Is(err, ErrLocalPart) {
		t.Errorf("non-ASCII local part: %v", err)
	}
	if _, err := ALabelAddress("a@☃.net"); !errors.Is(err, ErrConversion) {
		t.Errorf("bad domain: %v", err)
	}
}

func TestHeaderNeedsUTF8(t *testing.T) {
	for msg, want := range map[string]bool{
		asciiMsg:                              false,
		"Subject: Grüße\r\n\r\nbody\r\n":      true,
		"Subject: hi\r\n\r\nGrüße\r\n":        false, // body: 8BITMIME's business
		"From: \"Jörg\" <a@example.com>\n\nx": true,
		"Subject: hi\r\n":                     false,
		"":                                    false,
		"X: " + strings.Repeat("a", 10000) + "\r\n\r\nü": false, // long line, then body
		"X: " + strings.Repeat("a", 5000) + "ü\r\n\r\n":  true,
	} {
		got, err := HeaderNeedsUTF8(strings.NewReader(msg))
		if err != nil || got != want {
			t.Errorf("HeaderNeedsUTF8(%.40q) = %v, %v; want %v", msg, got, err, want)
		}
	}
	// A long line whose tail is a CRLF at a buffer boundary is not the
	// end of the header.
	msg := "X: " + strings.Repeat("a", 4096-3) + "\r\nSubject: ü\r\n\r\n"
	if got, err := HeaderNeedsUTF8(iotest.OneByteReader(strings.NewReader(msg))); err != nil || !got {
		t.Errorf("boundary: %v, %v", got, err)
	}
	if _, err := HeaderNeedsUTF8(iotest.ErrReader(io.ErrUnexpectedEOF)); err == nil {
		t.Error("read error not reported")
	}
	if got, err := HeaderNeedsUTF8(strings.NewReader(strings.Repeat("X: y\r\n", maxHeader/6+1))); err == nil || !got {
		t.Errorf("endless header: %v, %v", got, err)
	}
}
