package pipeconnect_test

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/front"
	"github.com/smtpkit/smtpkit/pipeconnect"
)

func Example() {
	// Server: a go-smtp server behind a front with PIPECONNECT.
	be := smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return discardSession{}, nil })
	inner := smtp.NewServer(be)
	inner.Domain = "mx.example.org"
	fs := front.New(inner, &front.Options{Extensions: []front.Extension{&pipeconnect.Server{}}})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go fs.Serve(l)
	defer fs.Close()

	// Client: the first session learns the EHLO reply, the second
	// sends EHLO before the banner.
	cache := &pipeconnect.MemoryCache{}
	pc := &pipeconnect.Client{Cache: cache}
	opts := &client.Options{Hostname: "client.example.net"}
	for i := 0; i < 2; i++ {
		c, err := pipeconnect.Dial(context.Background(), l.Addr().String(), opts, pc)
		if err != nil {
			panic(err)
		}
		c.Close()
		_, cached := cache.Get(pipeconnect.Key{Addr: l.Addr().String(), Helo: "client.example.net"})
		fmt.Println("session", i+1, "cached:", cached)
	}
	// Output:
	// session 1 cached: true
	// session 2 cached: true
}

// discardSession is a go-smtp session that accepts every message and
// keeps none.
type discardSession struct{}

func (discardSession) Mail(string, *smtp.MailOptions) error { return nil }
func (discardSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (discardSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
func (discardSession) Reset()        {}
func (discardSession) Logout() error { return nil }
