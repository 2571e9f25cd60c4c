package prdr_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/front"
	"github.com/smtpkit/smtpkit/prdr"
)

// backend refuses the message at data time for "spamtrap" and, with PRDR
// requested, answers each recipient on its own.
type backend struct{}

func (backend) NewSession(c *smtp.Conn) (smtp.Session, error) { return &session{conn: c}, nil }

type session struct {
	conn  *smtp.Conn
	rcpts []string
}

func (s *session) Reset()                               { s.rcpts = nil }
func (s *session) Logout() error                        { return nil }
func (s *session) Mail(string, *smtp.MailOptions) error { return nil }
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, to)
	return nil
}
func (s *session) Data(io.Reader) error { return nil }
func (s *session) LMTPData(r io.Reader, st smtp.StatusCollector) error {
	io.Copy(io.Discard, r)
	perRecipient := prdr.Requested(s.conn.Conn())
	for _, rcpt := range s.rcpts {
		if perRecipient && strings.HasPrefix(rcpt, "spamtrap@") {
			st.SetStatus(rcpt, &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "refused"})
			continue
		}
		st.SetStatus(rcpt, nil) // deliver it
	}
	return nil
}

func Example() {
	inner := smtp.NewServer(backend{})
	inner.Domain = "mx.example.org"
	fs := front.New(inner, &front.Options{Extensions: []front.Extension{prdr.Server{}}})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go fs.Serve(l)
	defer fs.Close()

	ctx := context.Background()
	c, err := client.Dial(ctx, l.Addr().String(), &client.Options{Extensions: []client.Extension{prdr.Client{}}})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	res, err := c.Send(ctx, &client.Envelope{From: "a@example.net",
		To: []string{"alice@example.org", "spamtrap@example.org"}}, strings.NewReader("Subject: hi\r\n\r\nhi\r\n"))
	if err != nil {
		panic(err)
	}
	for _, r := range res.Recipients {
		fmt.Println(r.Address, r.Status, r.Reply.Code)
	}
	// Output:
	// alice@example.org accepted 250
	// spamtrap@example.org permfailed 550
}
