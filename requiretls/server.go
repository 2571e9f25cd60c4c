package requiretls

import (
	"crypto/tls"
	"io"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/internal/sessionwrap"

	"github.com/smtpkit/smtpkit/internal/netwrap"
)

// ReplyTLSNeeded refuses MAIL ... REQUIRETLS on a session without TLS:
// 523 5.7.10 "Encryption Needed" (RFC 5248's code for X.7.10, as mox
// answers; RFC 8689 section 4.1 only allows the option after STARTTLS).
// Some servers say 530 instead; either is permanent.
var ReplyTLSNeeded = &smtp.SMTPError{Code: 523, EnhancedCode: smtp.EnhancedCode{5, 7, 10}, Message: "REQUIRETLS needs a TLS session"}

// Policy configures the server side. The zero Policy only enforces RFC
// 8689.
type Policy struct {
	// Upgrade, when set, is asked at each MAIL accepted without
	// REQUIRETLS; true makes the message REQUIRETLS all the same, as
	// Exim's "control = requiretls" does: local policy that it be
	// relayed only as RFC 8689 section 4.2.1 says. (Require does the
	// same later in the transaction.)
	Upgrade func(c *smtp.Conn, from string, opts *smtp.MailOptions) bool
}

// Status is what the Session knows of the current message.
type Status struct {
	// Requested is true when MAIL carried REQUIRETLS (RFC 8689 section
	// 2) over TLS.
	Requested bool
	// Required is true when the message must be relayed under RFC 8689
	// section 4.2.1: Requested, or required by local policy
	// (Policy.Upgrade, Require). It goes into the spool with the message;
	// its delivery status notifications are sent REQUIRETLS too (section
	// 5).
	Required bool
	// TLSOptional is true when the message has TLS-Required header
	// fields that all say "No" and is not Required (RFC 8689 section 3,
	// section 4.2.2): it should be relayed over TLS when possible but
	// whatever the certificate, and DANE and MTA-STS failures do not
	// stop it (RelaxedOptions). Known once the inner session has read
	// the header section in Data.
	TLSOptional bool
}

// Comment is a word for the Received header field's comment and the
// log's protocol field: "REQUIRETLS" for a Required message, "TLS-Required:
// No" for a TLSOptional one, "" otherwise. (Exim's experimental
// implementation logged such messages as received with protocol
// "esmtpS"; RFC 8689 registers no "with" value.)
func (s Status) Comment() string {
	switch {
	case s.Required:
		return "REQUIRETLS"
	case s.TLSOptional:
		return "TLS-Required: No"
	}
	return ""
}

// WrapBackend returns a Backend whose sessions are those of be wrapped by
// WrapSession with p. The server should have EnableREQUIRETLS set, and a
// TLSConfig: go-smtp advertises REQUIRETLS only after STARTTLS.
func WrapBackend(be smtp.Backend, p *Policy) smtp.Backend {
	return smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		inner, err := be.NewSession(c)
		if err != nil {
			return nil, err
		}
		return WrapSession(inner, c, p), nil
	})
}

// Session wraps a go-smtp session: it refuses MAIL ... REQUIRETLS without
// TLS (go-smtp accepts the parameter on plaintext; ReplyTLSNeeded), found
// through the connection's NetConn() chain so that TLS wrappers count,
// records the requirement (Status), and scans the header of the message
// for TLS-Required while the inner session reads it. It passes AUTH and
// LMTP on when the inner session has them.
type Session struct {
	inner  smtp.Session
	conn   *smtp.Conn
	policy Policy
	st     Status
	mail   bool
	rcpts  []string
}

// WrapSession wraps inner, the session of c; nil p is the zero Policy.
func WrapSession(inner smtp.Session, c *smtp.Conn, p *Policy) *Session {
	s := &Session{inner: inner, conn: c}
	if p != nil {
		s.policy = *p
	}
	return s
}

// find returns the Session of c, through Unwrap() smtp.Session methods.
func find(c *smtp.Conn) *Session {
	sess := c.Session()
	for range 16 {
		switch s := sess.(type) {
		case *Session:
			return s
		case interface{ Unwrap() smtp.Session }:
			sess = s.Unwrap()
		default:
			return nil
		}
	}
	return nil
}

// FromConn returns the status of the current message on c when c's
// session is, or wraps, a Session; ok is false when there is none or no
// MAIL was accepted. It is for inner sessions, from Rcpt and Data.
func FromConn(c *smtp.Conn) (st Status, ok bool) {
	if s := find(c); s != nil {
		return s.Status()
	}
	return Status{}, false
}

// Require makes the current message on c REQUIRETLS by local policy
// (Exim's "control = requiretls"), from the inner session's Rcpt or Data.
// It reports false when c has no Session or no transaction.
func Require(c *smtp.Conn) bool {
	s := find(c)
	if s == nil || !s.mail {
		return false
	}
	s.st.Required, s.st.TLSOptional = true, false
	return true
}

// Status returns the status of the current message; ok is false before
// MAIL is accepted.
func (s *Session) Status() (st Status, ok bool) { return s.st, s.mail }

// Unwrap returns the inner session.
func (s *Session) Unwrap() smtp.Session { return s.inner }

// tlsState is the TLS state of the connection, through wrappers.
func (s *Session) tlsState() (tls.ConnectionState, bool) {
	return netwrap.TLSState(s.conn.Conn())
}

// Mail refuses REQUIRETLS without TLS and passes MAIL on.
func (s *Session) Mail(from string, opts *smtp.MailOptions) error {
	s.clear()
	requested := opts != nil && opts.RequireTLS
	if requested {
		if _, ok := s.tlsState(); !ok {
			return ReplyTLSNeeded
		}
	}
	if err := s.inner.Mail(from, opts); err != nil {
		return err
	}
	s.mail = true
	s.st = Status{Requested: requested, Required: requested}
	if !requested && s.policy.Upgrade != nil && s.policy.Upgrade(s.conn, from, opts) {
		s.st.Required = true
	}
	return nil
}

// Rcpt passes RCPT on.
func (s *Session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if err := s.inner.Rcpt(to, opts); err != nil {
		return err
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

// Data passes the message on, scanning its header for TLS-Required as
// the inner session reads it; the transaction ends with it.
func (s *Session) Data(r io.Reader) error {
	defer s.clear()
	return s.inner.Data(s.reader(r))
}

// LMTPData passes the data on to the inner session's LMTPData or, when it
// has none, to Data, with that one status for every recipient.
func (s *Session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	defer s.clear()
	r = s.reader(r)
	return sessionwrap.LMTPData(s.inner, r, status, s.rcpts)
}

// reader wraps r so that Status.TLSOptional follows the header.
func (s *Session) reader(r io.Reader) io.Reader {
	h := &headerScan{}
	return &scanReader{r: r, h: h, after: func() {
		s.st.TLSOptional = h.no() && !s.st.Required
	}}
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

// Auth passes AUTH on.
func (s *Session) Auth(mech string) (sasl.Server, error) {
	return sessionwrap.Auth(s.inner, mech, nil)
}

func (s *Session) clear() {
	s.st, s.mail, s.rcpts = Status{}, false, nil
}
