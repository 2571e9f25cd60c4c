package smtptest

import (
	"io"
	"net"
	"sync"

	"github.com/emersion/go-smtp"
)

// Message is one transaction a Sink accepted.
type Message struct {
	Helo       string
	RemoteAddr net.Addr
	From       string
	MailOpts   smtp.MailOptions
	To         []string
	Data       []byte
}

// Sink is a Backend that accepts every transaction and keeps it. Its zero
// value is ready to use. Set Reject to make it refuse a stage.
type Sink struct {
	// Reject, if set, is asked at each stage ("MAIL", "RCPT", "DATA") with
	// the argument (address, or "" for DATA); a non-nil error is returned
	// to the client.
	Reject func(stage, arg string) error

	mu   sync.Mutex
	msgs []Message
}

// NewSession implements smtp.Backend.
func (s *Sink) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &sinkSession{sink: s, helo: c.Hostname(), remote: c.Conn().RemoteAddr()}, nil
}

// Messages returns a copy of what the sink accepted so far, in order.
func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

func (s *Sink) check(stage, arg string) error {
	if s.Reject == nil {
		return nil
	}
	return s.Reject(stage, arg)
}

type sinkSession struct {
	sink   *Sink
	helo   string
	remote net.Addr
	cur    Message
}

func (s *sinkSession) Reset()        { s.cur = Message{} }
func (s *sinkSession) Logout() error { return nil }

func (s *sinkSession) Mail(from string, opts *smtp.MailOptions) error {
	if err := s.sink.check("MAIL", from); err != nil {
		return err
	}
	s.cur = Message{Helo: s.helo, RemoteAddr: s.remote, From: from}
	if opts != nil {
		s.cur.MailOpts = *opts
	}
	return nil
}

func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := s.sink.check("RCPT", to); err != nil {
		return err
	}
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := s.sink.check("DATA", ""); err != nil {
		return err
	}
	s.cur.Data = b
	s.sink.mu.Lock()
	s.sink.msgs = append(s.sink.msgs, s.cur)
	s.sink.mu.Unlock()
	s.cur = Message{}
	return nil
}
