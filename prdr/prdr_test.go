package prdr_test

import (
	"context"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/front"
	"github.com/smtpkit/smtpkit/internal/fronttest"
	"github.com/smtpkit/smtpkit/internal/smtptest"
	"github.com/smtpkit/smtpkit/prdr"
)

const msg = "Subject: t\r\n\r\nbody\r\n"

func startServer(t *testing.T) (*fronttest.Backend, *fronttest.Server) {
	be := &fronttest.Backend{Refuse: fronttest.DefaultRefuse}
	srv := fronttest.Start(t, be, &front.Options{Extensions: []front.Extension{prdr.Server{}}})
	return be, srv
}

func TestServerSequence(t *testing.T) {
	be, srv := startServer(t)
	c := smtptest.Dial(t, srv.Addr)
	c.Expect(220)
	if !strings.Contains(c.MustCmd("EHLO c.test", 250).Text(), "PRDR") {
		t.Fatal("PRDR not advertised")
	}
	if rep := c.MustCmd("MAIL FROM:<a@x.test> PRDR", 250); !strings.Contains(rep.Text(), "PRDR Requested") {
		t.Errorf("MAIL reply %v", rep)
	}
	for _, r := range []string{"ok1", "refuse1", "badrcpt", "ok2"} {
		c.Write("RCPT TO:<" + r + "@y.test>\r\n")
	}
	for _, want := range []int{250, 250, 550, 250} {
		c.Expect(want)
	}
	c.MustCmd("DATA", 354)
	c.Write(msg + ".\r\n")
	c.Expect(353)
	for _, want := range []struct {
		code int
		text string
	}{{250, "PRDR R=<ok1@y.test> acceptance"}, {550, "refused"}, {250, "PRDR R=<ok2@y.test>"}, {250, "some recipients"}} {
		rep := c.Expect(want.code)
		if !strings.Contains(rep.Text(), want.text) {
			t.Errorf("reply %v, want text %q", rep, want.text)
		}
	}
	// Same with BDAT, all refused or deferred: final 4xx.
	c.MustCmd("MAIL FROM:<a@x.test> PRDR", 250)
	c.MustCmd("RCPT TO:<refuse@y.test>", 250)
	c.MustCmd("RCPT TO:<defer@y.test>", 250)
	c.Write("BDAT 5 LAST\r\nhello")
	for _, want := range []int{353, 550, 451, 450} {
		c.Expect(want)
	}
	// One recipient: an ordinary reply.
	c.MustCmd("MAIL FROM:<a@x.test> PRDR", 250)
	c.MustCmd("RCPT TO:<refuse@y.test>", 250)
	c.MustCmd("DATA", 354)
	c.Write(msg + ".\r\n")
	c.Expect(550)
	// Not requested and mixed: 451 for the whole message.
	c.MustCmd("MAIL FROM:<a@x.test>", 250)
	c.MustCmd("RCPT TO:<ok3@y.test>", 250)
	c.MustCmd("RCPT TO:<refuse@y.test>", 250)
	c.MustCmd("DATA", 354)
	c.Write(msg + ".\r\n")
	c.Expect(451)
	c.MustCmd("MAIL FROM:<a@x.test> PRDR=yes", 501)
	c.MustCmd("HELO c.test", 250)
	c.MustCmd("MAIL FROM:<a@x.test> PRDR", 555)

	msgs := be.Messages()
	var got []string
	for _, m := range msgs {
		got = append(got, m.To)
		if m.To == "ok1@y.test" {
			if _, ok := m.Params["PRDR"]; !ok {
				t.Error("session did not see PRDR requested")
			}
		}
	}
	if strings.Join(got, ",") != "ok1@y.test,ok2@y.test,ok3@y.test" {
		t.Errorf("delivered to %v", got)
	}
}

func TestClientWithServer(t *testing.T) {
	_, srv := startServer(t)
	for _, ignore := range [][]string{{"CHUNKING"}, nil} {
		c, err := client.Dial(context.Background(), srv.Addr, &client.Options{
			IgnoreKeywords: ignore, Extensions: []client.Extension{prdr.Client{}}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Send(context.Background(), &client.Envelope{From: "a@x.test",
			To: []string{"ok@y.test", "refuse@y.test", "badrcpt@y.test", "defer@y.test", "ok2@y.test"}}, strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		want := []client.Status{client.Accepted, client.PermFailed, client.PermFailed, client.TempFailed, client.Accepted}
		for i, r := range res.Recipients {
			if r.Status != want[i] {
				t.Errorf("%v: %s %v, want %v", ignore, r.Address, r.Status, want[i])
			}
		}
		// One recipient: no PRDR requested, ordinary reply.
		res, err = c.Send(context.Background(), &client.Envelope{From: "a@x.test", To: []string{"refuse@y.test"}}, strings.NewReader(msg))
		if err != nil || res.Recipients[0].Status != client.PermFailed {
			t.Errorf("one recipient: %v %v", err, res.Recipients)
		}
		c.Close()
	}
}

// TestClientDeclined: a server without PRDR gets no PRDR parameter (go-smtp
// would refuse it) and a uniform reply applies.
func TestClientDeclined(t *testing.T) {
	srv := smtptest.Start(t, &smtptest.Sink{})
	c, err := client.Dial(context.Background(), srv.Addr, &client.Options{Extensions: []client.Extension{prdr.Client{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Send(context.Background(), &client.Envelope{From: "a@x.test", To: []string{"b@y.test", "c@y.test"}}, strings.NewReader(msg))
	if err != nil || res.Recipients[0].Status != client.Accepted || res.Recipients[1].Status != client.Accepted {
		t.Fatalf("%v %+v", err, res)
	}
}

func TestOutcome(t *testing.T) {
	ok := &smtp.SMTPError{Code: 250}
	no := &smtp.SMTPError{Code: 550}
	later := &smtp.SMTPError{Code: 451}
	for _, tc := range []struct {
		final *smtp.SMTPError
		want  []int
	}{
		{ok, []int{250, 550, 451}},
		{&smtp.SMTPError{Code: 451}, []int{451, 550, 451}},
		{&smtp.SMTPError{Code: 554}, []int{554, 554, 554}},
	} {
		out, err := prdr.Outcome([]*smtp.SMTPError{ok, no, later}, tc.final)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range out.Recipients {
			if r.Code != tc.want[i] {
				t.Errorf("final %d: recipient %d got %d, want %d", tc.final.Code, i, r.Code, tc.want[i])
			}
		}
	}
	if _, err := prdr.Outcome([]*smtp.SMTPError{{Code: 353}}, ok); err == nil {
		t.Error("353 as a per-recipient reply accepted")
	}
	if _, err := prdr.Outcome(nil, nil); err == nil {
		t.Error("nil final accepted")
	}
}

// FuzzOutcome: any reply codes give a result for every recipient or an
// error, never a panic.
func FuzzOutcome(f *testing.F) {
	f.Add([]byte{250, 200, 44}, 250)
	f.Fuzz(func(t *testing.T, codes []byte, final int) {
		per := make([]*smtp.SMTPError, len(codes))
		for i, c := range codes {
			per[i] = &smtp.SMTPError{Code: 100 + int(c)*2}
		}
		out, err := prdr.Outcome(per, &smtp.SMTPError{Code: final})
		if err == nil && len(out.Recipients) != len(per) {
			t.Fatal("recipients lost")
		}
	})
}
