package spf

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/internal/sessionwrap"
)

// Policy says what the go-smtp wrappers check and what they do with the
// outcome. The zero Policy checks every MAIL FROM with New(nil) and never
// rejects: the outcome is only recorded.
type Policy struct {
	// Checker runs the checks; nil means New(nil).
	Checker *Checker

	// Reject refuses the command when the result matches, with 550 and
	// the enhanced status code of RFC 7372 section 3.2: 5.7.24 "SPF
	// validation error" for temperror and permerror, 5.7.23 "SPF
	// validation failed" for the other results. Exim: "deny spf = fail".
	Reject Condition

	// Defer refuses the command with 451, and 4.7.24 or 4.7.23 as for
	// Reject, when the result matches and Reject does not. Exim:
	// "defer spf = temperror".
	Defer Condition

	// Domains, when not empty, restricts checking to transactions with a
	// recipient in one of these domains (exact names, without case):
	// the check runs at the first such RCPT, and Reject and Defer apply
	// to those recipients only, as an Exim RCPT ACL with "domains ="
	// would. Empty means the check runs at MAIL FROM.
	Domains []string
}

// WrapBackend returns a Backend whose sessions are those of be wrapped by
// WrapSession with p.
func WrapBackend(be smtp.Backend, p *Policy) smtp.Backend {
	var pol Policy
	if p != nil {
		pol = *p
	}
	if pol.Checker == nil {
		pol.Checker = New(nil)
	}
	return smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		inner, err := be.NewSession(c)
		if err != nil {
			return nil, err
		}
		return WrapSession(inner, c, &pol), nil
	})
}

// A Session wraps a go-smtp session: it checks the MAIL FROM identity of
// each transaction, client address from c.Conn().RemoteAddr() (so that a
// PROXY-protocol listener's address is the one checked) and HELO name
// from c.Hostname(), replies per its Policy, and passes everything else
// to the inner session. Sessions that authenticated (RFC 4954) are not
// checked, nor clients whose address is not an IP address. It passes
// AUTH and LMTP on when the inner session implements them.
//
// The outcome is kept until the transaction ends (RSET, a new MAIL, or
// the end of DATA): the inner session reads it with FromConn or, holding
// the Session, with Outcome.
type Session struct {
	inner   smtp.Session
	conn    *smtp.Conn
	checker *Checker
	policy  *Policy
	domains map[string]bool

	outcome *Outcome
	from    string
	mail    bool     // MAIL was accepted
	rcpts   []string // accepted, for LMTP without LMTPData
	authed  bool
}

// WrapSession wraps inner, the session of c, with p; nil p is the zero
// Policy.
func WrapSession(inner smtp.Session, c *smtp.Conn, p *Policy) *Session {
	if p == nil {
		p = &Policy{}
	}
	s := &Session{inner: inner, conn: c, checker: p.Checker, policy: p}
	if s.checker == nil {
		s.checker = New(nil)
	}
	if len(p.Domains) > 0 {
		s.domains = make(map[string]bool, len(p.Domains))
		for _, d := range p.Domains {
			s.domains[normDomain(d)] = true
		}
	}
	return s
}

// FromConn returns the outcome of the current transaction on c when c's
// session is, or wraps, a Session (through Unwrap() smtp.Session methods);
// nil if there is none, or no check ran. It is for inner sessions, from
// Mail, Rcpt and Data; go-smtp holds a lock while it calls Reset and
// Logout, so not from those.
func FromConn(c *smtp.Conn) *Outcome {
	sess := c.Session()
	for range 16 {
		switch s := sess.(type) {
		case *Session:
			return s.Outcome()
		case interface{ Unwrap() smtp.Session }:
			sess = s.Unwrap()
		default:
			return nil
		}
	}
	return nil
}

// Outcome returns the outcome of the current transaction, or nil.
func (s *Session) Outcome() *Outcome { return s.outcome }

// Unwrap returns the inner session.
func (s *Session) Unwrap() smtp.Session { return s.inner }

// Mail runs the check, unless Policy.Domains defers it to RCPT, and
// passes MAIL on unless the policy refuses it.
func (s *Session) Mail(from string, opts *smtp.MailOptions) error {
	s.clear()
	s.from = from
	if s.domains == nil {
		s.outcome = s.run()
		if err := s.verdict(s.outcome); err != nil {
			return err
		}
	}
	if err := s.inner.Mail(from, opts); err != nil {
		return err
	}
	s.mail = true
	return nil
}

// Rcpt runs the check at the first recipient in Policy.Domains, refuses
// those recipients if the policy says so, and passes RCPT on.
func (s *Session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if s.domains != nil && s.mail {
		if _, domain := splitAddr(to); s.domains[normDomain(domain)] {
			if s.outcome == nil {
				s.outcome = s.run()
			}
			if err := s.verdict(s.outcome); err != nil {
				return err
			}
		}
	}
	if err := s.inner.Rcpt(to, opts); err != nil {
		return err
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

// Data passes DATA on.
func (s *Session) Data(r io.Reader) error { return s.inner.Data(r) }

// LMTPData passes the data on to the inner session's LMTPData or, when it
// has none, to Data, with that one status for every recipient, as go-smtp
// itself does.
func (s *Session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
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

// Auth passes AUTH on, and notes a success: authenticated sessions are
// not checked.
func (s *Session) Auth(mech string) (sasl.Server, error) {
	return sessionwrap.Auth(s.inner, mech, func() { s.authed = true })
}

func (s *Session) clear() {
	s.outcome, s.from, s.mail, s.rcpts = nil, "", false, nil
}

// run checks the current transaction, or returns nil when it is not to
// be checked.
func (s *Session) run() *Outcome {
	if s.authed {
		return nil
	}
	ip, ok := remoteIP(s.conn.Conn())
	if !ok {
		return nil
	}
	return s.checker.CheckMailFrom(context.Background(), ip, s.conn.Hostname(), s.from)
}

// verdict is the reply the policy gives o, or nil to go on.
func (s *Session) verdict(o *Outcome) error {
	if o == nil {
		return nil
	}
	code, class := 0, 0
	switch {
	case s.policy.Reject.Match(o.Result):
		code, class = 550, 5
	case s.policy.Defer.Match(o.Result):
		code, class = 451, 4
	default:
		return nil
	}
	// RFC 7372 section 3.2.
	detail := 23 // SPF validation failed
	if o.Result == TempError || o.Result == PermError {
		detail = 24 // SPF validation error
	}
	return &smtp.SMTPError{
		Code:         code,
		EnhancedCode: smtp.EnhancedCode{class, 7, detail},
		Message:      replySafe("SPF " + string(o.Result) + " for " + o.Domain + ": " + o.SMTPComment),
	}
}

// remoteIP is the IP address of the peer of c.
func remoteIP(c net.Conn) (netip.Addr, bool) {
	if c == nil {
		return netip.Addr{}, false
	}
	switch a := c.RemoteAddr().(type) {
	case *net.TCPAddr:
		if a == nil {
			return netip.Addr{}, false
		}
		ip, ok := netipFromIP(a.IP)
		return ip, ok
	case nil:
		return netip.Addr{}, false
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.Addr{}, false
		}
		return ap.Addr().Unmap(), true
	}
}

func normDomain(d string) string {
	return strings.ToLower(strings.TrimSuffix(d, "."))
}
