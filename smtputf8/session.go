package smtputf8

import (
	"errors"
	"io"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/internal/sessionwrap"

	"github.com/smtpkit/smtpkit/internal/netwrap"
)

// Replies of the Session.
var (
	// ReplyNeedsSMTPUTF8 refuses a non-ASCII address in a transaction
	// without SMTPUTF8 (RFC 6531 section 3.5, RFC 5248: X.6.7 "Non-ASCII
	// addresses not permitted for that sender/recipient").
	ReplyNeedsSMTPUTF8 = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 6, 7}, Message: "Non-ASCII address requires the SMTPUTF8 parameter"}
	// ReplyBadSender refuses a malformed non-ASCII reverse-path (RFC 3463
	// X.1.7).
	ReplyBadSender = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "Bad sender address syntax"}
	// ReplyBadRecipient refuses a malformed non-ASCII forward-path (RFC
	// 3463 X.1.3).
	ReplyBadRecipient = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address syntax"}
)

// WrapBackend returns a Backend whose sessions are those of be wrapped by
// WrapSession. The server should have EnableSMTPUTF8 set: without it
// go-smtp refuses the parameter itself, and every non-ASCII address gets
// 553 5.6.7.
func WrapBackend(be smtp.Backend) smtp.Backend {
	return smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		inner, err := be.NewSession(c)
		if err != nil {
			return nil, err
		}
		return WrapSession(inner, c), nil
	})
}

// Session wraps a go-smtp session, the session of one connection, and
// enforces RFC 6531 on the envelope:
//
//   - a non-ASCII reverse-path or forward-path in a transaction whose
//     MAIL lacked the SMTPUTF8 parameter: 553 5.6.7 (section 3.5), as
//     go-smtp accepts it;
//   - a non-ASCII address that is not a valid RFC 6531 Mailbox
//     (CheckAddress): 553 5.1.7 for MAIL, 553 5.1.3 for RCPT.
//
// ASCII addresses are left to go-smtp and the inner session, as are the
// addresses themselves: they are passed on unchanged (never normalised;
// compare with Key or Equal). The Session records the transaction
// (Transaction, FromConn), and passes AUTH and LMTP on when the inner
// session has them.
type Session struct {
	inner smtp.Session
	conn  *smtp.Conn
	tx    Transaction
	mail  bool
	rcpts []string // accepted, for LMTP without LMTPData
	auth  bool
}

// Transaction is what the Session knows of the current transaction.
type Transaction struct {
	// UTF8 is true when MAIL carried SMTPUTF8: Exim's
	// $message_smtputf8. The message must then be relayed with
	// SMTPUTF8, or downgraded (see Send).
	UTF8 bool
	// With is the Received header's "with" value (RFC 5321 section
	// 4.4): see ReceivedWith.
	With string
}

// WrapSession wraps inner, the session of c.
func WrapSession(inner smtp.Session, c *smtp.Conn) *Session {
	return &Session{inner: inner, conn: c}
}

// FromConn returns the current transaction on c when c's session is, or
// wraps, a Session (through Unwrap() smtp.Session methods); ok is false
// when there is none or MAIL has not been accepted. It is for inner
// sessions, from Rcpt and Data (go-smtp holds a lock while it calls
// Reset and Logout, and sets the session only after NewSession).
func FromConn(c *smtp.Conn) (tx Transaction, ok bool) {
	sess := c.Session()
	for range 16 {
		switch s := sess.(type) {
		case *Session:
			return s.Transaction()
		case interface{ Unwrap() smtp.Session }:
			sess = s.Unwrap()
		default:
			return Transaction{}, false
		}
	}
	return Transaction{}, false
}

// Transaction returns the current transaction; ok is false before MAIL
// is accepted.
func (s *Session) Transaction() (tx Transaction, ok bool) { return s.tx, s.mail }

// Unwrap returns the inner session.
func (s *Session) Unwrap() smtp.Session { return s.inner }

// ReceivedWith returns the "with" value of a Received header field for a
// message received over ESMTP (RFC 5321 section 4.4): "ESMTP" with "S"
// for TLS and "A" for authentication (RFC 3848), and for an SMTPUTF8
// transaction the values RFC 6531 registers (section 4.3): "UTF8SMTP",
// "UTF8SMTPS", "UTF8SMTPA", "UTF8SMTPSA". (Exim logs these as
// P=utf8esmtp, utf8esmtps, utf8esmtpa, utf8esmtpsa.)
func ReceivedWith(utf8, tls, auth bool) string {
	var b strings.Builder
	if utf8 {
		b.WriteString("UTF8SMTP")
	} else {
		b.WriteString("ESMTP")
	}
	if tls {
		b.WriteByte('S')
	}
	if auth {
		b.WriteByte('A')
	}
	return b.String()
}

// Mail checks the reverse-path and passes MAIL on.
func (s *Session) Mail(from string, opts *smtp.MailOptions) error {
	s.clear()
	utf8 := opts != nil && opts.UTF8
	if from != "" && !isASCII(from) {
		if err := CheckAddress(from, utf8); err != nil {
			return reply(err, ReplyBadSender)
		}
	}
	if err := s.inner.Mail(from, opts); err != nil {
		return err
	}
	_, tls := netwrap.TLSState(s.conn.Conn())
	s.tx = Transaction{UTF8: utf8, With: ReceivedWith(utf8, tls, s.auth)}
	s.mail = true
	return nil
}

// Rcpt checks the forward-path and passes RCPT on.
func (s *Session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if s.mail && !isASCII(to) {
		if err := CheckAddress(to, s.tx.UTF8); err != nil {
			return reply(err, ReplyBadRecipient)
		}
	}
	if err := s.inner.Rcpt(to, opts); err != nil {
		return err
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

func reply(err error, syntax *smtp.SMTPError) error {
	if errors.Is(err, ErrNeedsSMTPUTF8) {
		return ReplyNeedsSMTPUTF8
	}
	return syntax
}

// Data passes DATA on; the transaction ends with it.
func (s *Session) Data(r io.Reader) error {
	err := s.inner.Data(r)
	s.clear()
	return err
}

// LMTPData passes the data on to the inner session's LMTPData or, when
// it has none, to Data, with that one status for every recipient, as
// go-smtp itself does.
func (s *Session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	defer s.clear()
	return sessionwrap.LMTPData(s.inner, r, status, s.rcpts)
}

// Reset ends the transaction.
func (s *Session) Reset() {
	s.clear()
	s.inner.Reset()
}

// Logout passes LOGOUT on.
func (s *Session) Logout() error { return s.inner.Logout() }

// AuthMechanisms returns the inner session's mechanisms, if it has AUTH.
func (s *Session) AuthMechanisms() []string { return sessionwrap.AuthMechanisms(s.inner) }

// Auth passes AUTH on and notes a success, for ReceivedWith's "A".
func (s *Session) Auth(mech string) (sasl.Server, error) {
	return sessionwrap.Auth(s.inner, mech, func() { s.auth = true })
}

func (s *Session) clear() {
	s.tx, s.mail, s.rcpts = Transaction{}, false, nil
}
