package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtpkit/smtpkit/client"
)

// Send one message to three recipients, one of which the server refuses,
// then a second message over the same connection.
func Example() {
	// A go-smtp server on loopback that keeps the recipients of what it
	// receives and refuses "nobody@".
	mbox := &mailbox{}
	addr, stop, err := exampleServer(mbox)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr, &client.Options{Hostname: "relay.example.test"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	_, pipelining := c.Extension("PIPELINING")
	fmt.Println("pipelining:", pipelining)

	msg := "From: a@example.test\r\nSubject: hello\r\n\r\nHi there.\r\n"
	res, err := c.Send(ctx, &client.Envelope{
		From: "a@example.test",
		To:   []string{"b@example.test", "nobody@example.test", "c@example.test"},
	}, strings.NewReader(msg))
	if err != nil {
		fmt.Println("connection failed:", err)
	}
	for _, r := range res.Recipients {
		fmt.Printf("%s: %s (%d %s)\n", r.Address, r.Status, r.Reply.Code, r.Reply.Message)
	}

	res, err = c.Send(ctx, &client.Envelope{From: "a@example.test", To: []string{"d@example.test"}}, strings.NewReader(msg))
	fmt.Println(res.Recipients[0].Status, err, errors.Is(err, client.ErrRefused))
	fmt.Println("messages on this connection:", c.Messages())
	fmt.Println("stored:", mbox.stored())
	// Output:
	// pipelining: true
	// b@example.test: accepted (250 OK: queued)
	// nobody@example.test: permfailed (550 no such user)
	// c@example.test: accepted (250 OK: queued)
	// accepted <nil> false
	// messages on this connection: 2
	// stored: [[b@example.test c@example.test] [d@example.test]]
}

// Send a queue's worth of messages over one connection without waiting
// between them.
func ExampleConn_SendBatch() {
	mbox := &mailbox{}
	addr, stop, err := exampleServer(mbox) // as in the package example
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr, &client.Options{Hostname: "relay.example.test"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	var msgs []client.Message
	for i := range 3 {
		msgs = append(msgs, client.Message{
			Envelope: &client.Envelope{From: "a@example.test", To: []string{fmt.Sprintf("user%d@example.test", i)}},
			Body:     strings.NewReader(fmt.Sprintf("Subject: number %d\r\n\r\nHi.\r\n", i)),
		})
	}
	results, err := c.SendBatch(ctx, msgs)
	if err != nil {
		fmt.Println("connection failed:", err)
	}
	for _, res := range results {
		r := res.Recipients[0]
		fmt.Println(r.Address, r.Status)
	}
	fmt.Println("stored:", len(mbox.stored()))
	// Output:
	// user0@example.test accepted
	// user1@example.test accepted
	// user2@example.test accepted
	// stored: 3
}

// exampleServer starts a go-smtp server on loopback that delivers to
// mbox.
func exampleServer(mbox *mailbox) (addr string, stop func() error, err error) {
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &mboxSession{mbox: mbox}, nil
	}))
	srv.Domain = "mx.example.test"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	go srv.Serve(ln)
	return ln.Addr().String(), srv.Close, nil
}

// mailbox keeps the recipients of each message a server received.
type mailbox struct {
	mu   sync.Mutex
	msgs [][]string
}

func (m *mailbox) stored() [][]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.msgs
}

// mboxSession is a go-smtp session that refuses "nobody@" and delivers the
// rest to a mailbox.
type mboxSession struct {
	mbox *mailbox
	to   []string
}

func (s *mboxSession) Mail(string, *smtp.MailOptions) error { return nil }

func (s *mboxSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if strings.HasPrefix(to, "nobody@") {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *mboxSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s.mbox.mu.Lock()
	s.mbox.msgs = append(s.mbox.msgs, s.to)
	s.mbox.mu.Unlock()
	s.to = nil
	return nil
}

func (s *mboxSession) Reset()        { s.to = nil }
func (s *mboxSession) Logout() error { return nil }
