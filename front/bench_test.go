package front_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/front"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// sessionBackend reads each message and keeps nothing.
type sessionBackend struct{}

func (sessionBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return benchSession{}, nil }

type benchSession struct{}

func (benchSession) Reset()                               {}
func (benchSession) Logout() error                        { return nil }
func (benchSession) Mail(string, *smtp.MailOptions) error { return nil }
func (benchSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (benchSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

// BenchmarkFront: messages/s of 10 KiB through the same go-smtp server,
// direct and behind the front, sent by the client engine over one
// connection (DATA, then BDAT).
func BenchmarkFront(b *testing.B) {
	body := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.\r\n"), 160)
	for _, mode := range []struct {
		name   string
		ignore []string
	}{{"DATA", []string{"CHUNKING"}}, {"BDAT", nil}} {
		for _, behind := range []bool{false, true} {
			name := mode.name + "/direct"
			if behind {
				name = mode.name + "/front"
			}
			b.Run(name, func(b *testing.B) {
				inner := smtp.NewServer(sessionBackend{})
				inner.Domain = "mx.test"
				var addr string
				if behind {
					fs := front.New(inner, nil)
					l, _ := net.Listen("tcp", "127.0.0.1:0")
					go fs.Serve(l)
					b.Cleanup(func() { fs.Close() })
					addr = l.Addr().String()
				} else {
					addr = smtptest.Serve(b, inner)
				}
				ctx := context.Background()
				c, err := client.Dial(ctx, addr, &client.Options{IgnoreKeywords: mode.ignore, Timeouts: client.Timeouts{DataEnd: time.Minute}})
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				env := &client.Envelope{From: "a@x.test", To: []string{"b@y.test"}, Body: client.Body7Bit}
				b.SetBytes(int64(len(body)))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					res, err := c.Send(ctx, env, bytes.NewReader(body))
					if err != nil || res.Recipients[0].Status != client.Accepted {
						b.Fatal(err, res.Data)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}
