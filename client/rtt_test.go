package client

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/internal/rttproxy"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

func rcptList(n int) []string {
	to := make([]string, n)
	for i := range to {
		to[i] = fmt.Sprintf("r%d@y.test", i)
	}
	return to
}

// TestRoundTrips counts client flights through a proxy that adds 1 ms each
// way: with PIPELINING the envelope and DATA take one round trip and the
// message another (RFC 2920 section 3.1), whatever the number of
// recipients; with CHUNKING the first BDAT rides with the envelope and the
// whole transaction takes one. go-smtp's client takes 3 + n.
func TestRoundTrips(t *testing.T) {
	sink := &smtptest.Sink{}
	srv := smtptest.Start(t, sink)
	proxy := rttproxy.Start(t, srv.Addr, time.Millisecond)

	for _, tc := range []struct {
		name   string
		ignore []string
		want   int
	}{
		{"DATA", []string{"CHUNKING"}, 2},
		{"BDAT", nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := proxy.ClientFlights()
			c := dialT(t, proxy.Addr, &Options{IgnoreKeywords: tc.ignore})
			if got := proxy.ClientFlights() - before; got != 1 {
				t.Errorf("opening took %d client flights, want 1 (EHLO)", got)
			}
			for _, n := range []int{1, 10, 50, 10} {
				before := proxy.ClientFlights()
				res := send(t, c, &Envelope{From: "a@x.test", To: rcptList(n)}, simpleMsg)
				if res.Recipients[n-1].Status != Accepted {
					t.Fatal(statuses(res))
				}
				if got := proxy.ClientFlights() - before; got != tc.want {
					t.Errorf("%d recipients: %d round trips, want %d", n, got, tc.want)
				}
			}
		})
	}

	t.Run("go-smtp client", func(t *testing.T) {
		cl, err := smtp.Dial(proxy.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.Hello("client.test"); err != nil {
			t.Fatal(err)
		}
		const n = 3
		before := proxy.ClientFlights()
		if err := gosmtpSend(cl, rcptList(n), simpleMsg); err != nil {
			t.Fatal(err)
		}
		if got := proxy.ClientFlights() - before; got != 3+n {
			t.Errorf("go-smtp: %d round trips, want %d", got, 3+n)
		}
	})
}

// gosmtpSend is one message with go-smtp's client: MAIL, each RCPT,
// DATA, the message, each waiting for its reply.
func gosmtpSend(cl *smtp.Client, to []string, msg string) error {
	if err := cl.Mail("a@x.test", nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := cl.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	return w.Close()
}
