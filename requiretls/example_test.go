package requiretls_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/requiretls"
)

// A REQUIRETLS message meets a server without STARTTLS: refused before
// anything of it is sent.
func ExampleDelivery() {
	// A go-smtp server on loopback, without STARTTLS.
	be := smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return discardSession{}, nil })
	srv := smtp.NewServer(requiretls.WrapBackend(be, nil))
	srv.Domain = "mx.example.test"
	srv.EnableREQUIRETLS = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go srv.Serve(ln)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := &requiretls.Delivery{Host: "mx.example.test"}
	_, err = client.Dial(ctx, ln.Addr().String(), d.ClientOptions(nil))
	fmt.Println(errors.Is(err, client.ErrTLSRequired))

	// Had the caller dialled opportunistically, the message is still
	// refused.
	opts := &client.Options{Extensions: []client.Extension{d}}
	c, err := client.Dial(ctx, ln.Addr().String(), opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	res, err := c.Send(ctx, &client.Envelope{From: "a@example.test", To: []string{"b@example.test"}}, strings.NewReader("Subject: x\r\n\r\nsecret\r\n"))
	rep := res.Recipients[0].Reply
	fmt.Println(errors.Is(err, requiretls.ErrNotQualified), rep.Code, rep.EnhancedCode, rep.Message)
	// Output:
	// true
	// true 550 [5 7 10] REQUIRETLS: encryption needed
}

func ExampleTLSRequiredNo() {
	no, _ := requiretls.TLSRequiredNo(strings.NewReader("TLS-Required: No\r\nSubject: hi\r\n\r\nbody\r\n"))
	fmt.Println(no)
	// Output: true
}

func ExampleDSNContent() {
	hdr, _ := requiretls.DSNContent(strings.NewReader("Subject: hi\r\n\r\nsecret body\r\n"))
	fmt.Printf("%q\n", hdr)
	// Output: "Subject: hi\r\n\r\n"
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
