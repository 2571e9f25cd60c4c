//go:build interop

package pipeconnect_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/internal/interop"
	"github.com/smtpkit/smtpkit/internal/rttproxy"
	"github.com/smtpkit/smtpkit/pipeconnect"
)

// TestDialSendToExim: DialSend sends two messages to Exim 4.96 over
// STARTTLS, with CHUNKING and without; the second of each pair pipelines
// early (Exim logs L*), each recipient gets one copy and the one Exim
// refuses at RCPT fails on its own.
func TestDialSendToExim(t *testing.T) {
	for _, ignore := range [][]string{nil, {"CHUNKING"}} {
		t.Run(fmt.Sprint("ignore", ignore), func(t *testing.T) {
			exim := interop.StartExim(t, "")
			// Count the client's flights: with PIPECONNECT, EHLO and
			// STARTTLS; the TLS hello; Finished with EHLO and the
			// envelope; the message.
			p := rttproxy.Start(t, interop.Addr(exim.Port), time.Millisecond)
			addr := p.Addr
			pc := &pipeconnect.Client{Cache: &pipeconnect.MemoryCache{}}
			opts := &client.Options{Hostname: "client.test", TLSPolicy: client.TLSRequired, IgnoreKeywords: ignore,
				TLSConfig: &tls.Config{InsecureSkipVerify: true}}
			for i := 0; i < 2; i++ {
				c0 := p.ClientFlights()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				c, res, err := pipeconnect.DialSend(ctx, addr, opts, pc, &client.Envelope{From: "a@x.test",
					To: []string{"ok@peer.test", "badrcpt@peer.test", "ok2@peer.test"}},
					strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i)))
				cancel()
				if err != nil {
					t.Fatal(err)
				}
				want := []client.Status{client.Accepted, client.PermFailed, client.Accepted}
				for j, r := range res.Recipients {
					if r.Status != want[j] {
						t.Errorf("message %d: %s %v (%v), want %v", i, r.Address, r.Status, r.Reply, want[j])
					}
				}
				flights := p.ClientFlights() - c0
				t.Logf("message %d: %d client flights", i, flights)
				if i == 1 && flights != 4 {
					t.Errorf("early session: %d client flights, want 4", flights)
				}
				c.Close()
			}
			if got := exim.WaitMessages(4, 10*time.Second); len(got) != 4 {
				t.Errorf("%d copies, want 4", len(got))
			}
			var received []string
			for _, l := range strings.Split(exim.MainLog(), "\n") {
				if strings.Contains(l, " <= ") {
					received = append(received, l)
				}
			}
			if len(received) != 2 || strings.Contains(received[0], " L*") || !strings.Contains(received[1], " L*") {
				t.Errorf("want L* on the second reception only:\n%s", exim.MainLog())
			}
			for _, l := range received {
				if !strings.Contains(l, "X=TLS") {
					t.Errorf("received without TLS: %s", l)
				}
			}
		})
	}
}
