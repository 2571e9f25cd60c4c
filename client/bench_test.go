package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/internal/rttproxy"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// discard is a backend that accepts everything and keeps nothing.
type discard struct{}

func (discard) NewSession(*smtp.Conn) (smtp.Session, error) { return discard{}, nil }
func (discard) Reset()                                      {}
func (discard) Logout() error                               { return nil }
func (discard) Mail(string, *smtp.MailOptions) error        { return nil }
func (discard) Rcpt(string, *smtp.RcptOptions) error        { return nil }
func (discard) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

// benchMsg is a 2 KB message.
var benchMsg = []byte("From: a@x.test\r\nTo: b@y.test\r\nSubject: benchmark\r\n\r\n" +
	strings.Repeat("The quick brown fox jumps over the lazy dog, again and again.\r\n", 32))

// BenchmarkSend measures messages per second over one reused connection to
// go-smtp on loopback, with 1, 10 and 100 recipients: the engine as it
// comes (PIPELINING, BDAT), the engine with DATA instead of BDAT (go-smtp's
// server runs BDAT through a pipe and a goroutine, which costs it more
// than DATA), the engine's SendBatch (messages pipelined behind each
// other, 64 a call), and go-smtp's Client (MAIL, each RCPT, DATA, each
// waiting). The target is twice go-smtp's rate for 10 recipients:
//
//	go test -run '^$' -bench 'BenchmarkSend$/rcpt=10$' ./client/
func BenchmarkSend(b *testing.B) {
	srv := smtptest.Start(b, discard{})
	for _, n := range []int{1, 10, 100} {
		to := rcptList(n)
		b.Run(fmt.Sprintf("rcpt=%d/engine", n), func(b *testing.B) { benchEngine(b, srv.Addr, to, nil) })
		b.Run(fmt.Sprintf("rcpt=%d/engine-data", n), func(b *testing.B) { benchEngine(b, srv.Addr, to, []string{"CHUNKING"}) })
		b.Run(fmt.Sprintf("rcpt=%d/engine-batch", n), func(b *testing.B) { benchBatch(b, srv.Addr, to) })
		b.Run(fmt.Sprintf("rcpt=%d/go-smtp", n), func(b *testing.B) { benchGoSMTP(b, srv.Addr, to) })
	}
}

// BenchmarkSendLatency is BenchmarkSend for 10 recipients through a proxy
// adding 1 ms each way, where round trips dominate.
func BenchmarkSendLatency(b *testing.B) {
	srv := smtptest.Start(b, discard{})
	proxy := rttproxy.Start(b, srv.Addr, time.Millisecond)
	to := rcptList(10)
	b.Run("rcpt=10/engine", func(b *testing.B) { benchEngine(b, proxy.Addr, to, nil) })
	b.Run("rcpt=10/engine-data", func(b *testing.B) { benchEngine(b, proxy.Addr, to, []string{"CHUNKING"}) })
	b.Run("rcpt=10/go-smtp", func(b *testing.B) { benchGoSMTP(b, proxy.Addr, to) })
}

func benchEngine(b *testing.B, addr string, to, ignore []string) {
	ctx := context.Background()
	c, err := Dial(ctx, addr, &Options{Hostname: "client.test", IgnoreKeywords: ignore})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	env := &Envelope{From: "a@x.test", To: to}
	r := bytes.NewReader(benchMsg)
	b.SetBytes(int64(len(benchMsg)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.Reset(benchMsg)
		res, err := c.Send(ctx, env, r)
		if err != nil || res.Recipients[len(to)-1].Status != Accepted {
			b.Fatal(err, statuses(res))
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// benchBatch is benchEngine with SendBatch, batchSize messages a call.
func benchBatch(b *testing.B, addr string, to []string) {
	const batchSize = 64
	ctx := context.Background()
	c, err := Dial(ctx, addr, &Options{Hostname: "client.test"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	env := &Envelope{From: "a@x.test", To: to}
	readers := make([]bytes.Reader, batchSize)
	msgs := make([]Message, batchSize)
	b.SetBytes(int64(len(benchMsg)))
	b.ResetTimer()
	for i := 0; i < b.N; i += batchSize {
		k := min(batchSize, b.N-i)
		for j := range k {
			readers[j].Reset(benchMsg)
			msgs[j] = Message{env, &readers[j]}
		}
		results, err := c.SendBatch(ctx, msgs[:k])
		if err != nil {
			b.Fatal(err)
		}
		for _, res := range results {
			if res.Recipients[len(to)-1].Status != Accepted {
				b.Fatal(statuses(res))
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func benchGoSMTP(b *testing.B, addr string, to []string) {
	cl, err := smtp.Dial(addr)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Hello("client.test"); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchMsg)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := gosmtpSend(cl, to, string(benchMsg)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
