package dmarc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/internal/sessionwrap"
)

// SessionOptions say what the go-smtp wrappers evaluate and do. The zero
// value evaluates every message with New(nil), adds Authentication-Results,
// and enforces nothing: the result is only recorded for the inner
// session.
type SessionOptions struct {
	// Evaluator evaluates; nil means New(nil).
	Evaluator *Evaluator

	// AuthServID names this receiver in Authentication-Results (RFC 8601
	// section 2.5); "" means the server's Domain. Incoming
	// Authentication-Results fields that claim it are removed (section
	// 5).
	AuthServID string

	// SPF gives the SPF result of the current transaction on c, as the
	// spf package's session wrapper keeps it; nil, or a nil result,
	// means SPF none. Wiring with the spf package, which this package
	// does not import:
	//
	//	SPF: func(c *smtp.Conn) *authres.SPFResult {
	//		if o := spf.FromConn(c); o != nil {
	//			return o.AuthResult()
	//		}
	//		return nil
	//	},
	SPF func(c *smtp.Conn) *authres.SPFResult

	// Reject refuses messages whose status is reject with 550 5.7.1 at
	// the end of DATA.
	Reject bool

	// Quarantine marks messages whose status is quarantine, and those
	// whose status is reject when Reject is off, for the inner session,
	// which reads the mark with Quarantined and files the message away.
	Quarantine bool

	// DeferTempError answers 451 4.7.1 when the status is temperror, so
	// that the client tries again later; the default delivers.
	DeferTempError bool

	// History, if set, gets a record of every evaluated message.
	History *History

	// Reporter sends failure reports when FailureReports is set.
	Reporter *Reporter

	// FailureReports sends the failure reports records ask for (fo=,
	// ruf=), Exim's dmarc_enable_forensic. Off by default: the reports
	// carry message content (see ReporterOptions.Redact).
	FailureReports bool

	// Checks run on the message after the DMARC evaluation and before
	// the policy is applied. Each may add a result to our
	// Authentication-Results field, such as arc= (RFC 8617 section 7.1),
	// and may override the policy: a local policy override (RFC 7489
	// section 7.2, and RFC 8617 section 7.2 for a trusted ARC chain)
	// delivers a message that reject or quarantine would have stopped,
	// and the history records the override.
	Checks []Check

	// SpoolDir holds the temporary files of messages larger than
	// SpoolMemory; "" means os.TempDir().
	SpoolDir string

	// SpoolMemory is how much of a message is kept in memory; 0 means
	// DefaultSpoolMemory.
	SpoolMemory int
}

// WrapBackend returns a Backend whose sessions are those of be wrapped by
// WrapSession with o.
func WrapBackend(be smtp.Backend, o *SessionOptions) smtp.Backend {
	opts := sessionDefaults(o)
	return smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		inner, err := be.NewSession(c)
		if err != nil {
			return nil, err
		}
		return WrapSession(inner, c, opts), nil
	})
}

func sessionDefaults(o *SessionOptions) *SessionOptions {
	var opts SessionOptions
	if o != nil {
		opts = *o
	}
	if opts.Evaluator == nil {
		opts.Evaluator = New(nil)
	}
	if opts.SpoolMemory <= 0 {
		opts.SpoolMemory = DefaultSpoolMemory
	}
	return &opts
}

// A Session wraps a go-smtp session: at the end of DATA it evaluates the
// message (client address from c.Conn().RemoteAddr(), HELO name from
// c.Hostname()), prepends one Authentication-Results field with the SPF,
// DKIM and DMARC results and removes incoming ones that claim its
// authserv-id, records the message in the history, sends failure
// reports, and then rejects the message or passes it on to the inner
// session, marked for quarantine or not, per its options. Messages of
// authenticated sessions (RFC 4954), and of clients without an IP
// address, pass unevaluated with StatusOff. The message is spooled, in
// memory up to SpoolMemory and then in a temporary file, so that large
// messages do not fill memory.
//
// The inner session reads the result with FromConn and the quarantine
// mark with Quarantined, from its Data.
type Session struct {
	inner smtp.Session
	conn  *smtp.Conn
	o     *SessionOptions

	from       string
	rcpts      []string
	authed     bool
	result     *Result
	quarantine bool
	extra      []authres.Result // from Checks, for Authentication-Results
}

// WrapSession wraps inner, the session of c; nil o is the zero options.
func WrapSession(inner smtp.Session, c *smtp.Conn, o *SessionOptions) *Session {
	return &Session{inner: inner, conn: c, o: sessionDefaults(o)}
}

// FromConn returns the result for the message being delivered on c when
// c's session is, or wraps, a Session (through Unwrap() smtp.Session
// methods); nil before the end of DATA. It is for the inner session's
// Data.
func FromConn(c *smtp.Conn) *Result {
	if s := sessionOf(c); s != nil {
		return s.result
	}
	return nil
}

// Quarantined reports whether the message being delivered on c is to be
// quarantined, by SessionOptions.Quarantine.
func Quarantined(c *smtp.Conn) bool {
	s := sessionOf(c)
	return s != nil && s.quarantine
}

func sessionOf(c *smtp.Conn) *Session {
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

// Result returns the result of the current message, or nil.
func (s *Session) Result() *Result { return s.result }

// Unwrap returns the inner session.
func (s *Session) Unwrap() smtp.Session { return s.inner }

// Mail notes the reverse-path and passes MAIL on.
func (s *Session) Mail(from string, opts *smtp.MailOptions) error {
	s.clear()
	if err := s.inner.Mail(from, opts); err != nil {
		return err
	}
	s.from = from
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

// Data evaluates the message and passes it on, or refuses it.
func (s *Session) Data(r io.Reader) error {
	msg, done, err := s.evaluate(r)
	defer done()
	if err != nil {
		return err
	}
	return s.inner.Data(msg)
}

// LMTPData is Data for LMTP: a refusal applies to every recipient, and
// the message goes to the inner session's LMTPData or, when it has none,
// to Data with one status for all, as go-smtp itself does.
func (s *Session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	msg, done, err := s.evaluate(r)
	defer done()
	if err != nil {
		return err
	}
	return sessionwrap.LMTPData(s.inner, msg, status, s.rcpts)
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

// Auth passes AUTH on and notes a success: messages of authenticated
// sessions are not evaluated.
func (s *Session) Auth(mech string) (sasl.Server, error) {
	return sessionwrap.Auth(s.inner, mech, func() { s.authed = true })
}

func (s *Session) clear() {
	s.from, s.rcpts, s.result, s.quarantine, s.extra = "", nil, nil, false, nil
}

// Check is a further check of a message, run by the session wrapper
// after the DMARC evaluation r, with the message in msg (read it at most
// once). The arc package's verifier fits here; this package does not
// import it:
//
//	func(ctx context.Context, c *smtp.Conn, msg io.Reader, r *dmarc.Result) dmarc.CheckResult {
//		res, err := arc.Verify(ctx, msg, &arc.VerifyOptions{LookupTXT: resolver.LookupTXT, TrustedSealers: trusted})
//		if err != nil {
//			return dmarc.CheckResult{}
//		}
//		cr := dmarc.CheckResult{Result: res.AuthResult()}
//		if res.Trusted != nil { // a trusted sealer vouched for the message
//			cr.Override = "arc: trusted chain from " + res.Trusted.Domain
//		}
//		return cr
//	}
type Check func(ctx context.Context, c *smtp.Conn, msg io.Reader, r *Result) CheckResult

// CheckResult is what a Check adds: an Authentication-Results entry (nil
// for none), and a non-empty Override, the reason to deliver although the
// policy says reject or quarantine.
type CheckResult struct {
	Result   authres.Result
	Override string
}

// errLocal is the reply when the message cannot be spooled or read.
var errLocal = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Local error in processing"}

// evaluate spools and evaluates the message, does what the result and
// the options say, and returns the message to pass on (nil with an
// error to refuse it) and a function that releases the spool.
func (s *Session) evaluate(r io.Reader) (io.Reader, func(), error) {
	nothing := func() {}
	s.result, s.quarantine = nil, false
	ip, ok := remoteIP(s.conn.Conn())
	if s.authed || !ok {
		why := "authenticated session"
		if !s.authed {
			why = "client has no IP address"
		}
		s.result = &Result{Status: StatusOff, StatusText: "DMARC not checked: " + why, IP: ip}
		return r, nothing, nil
	}
	sp := &spool{dir: s.o.SpoolDir, limit: s.o.SpoolMemory}
	done := sp.close
	if _, err := io.Copy(sp, r); err != nil {
		// go-smtp's own errors (a message over the size limit) reach
		// the client as they are.
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return nil, done, err
		}
		s.logf("dmarc: %v", err)
		return nil, done, errLocal
	}
	var spfRes *authres.SPFResult
	if s.o.SPF != nil {
		spfRes = s.o.SPF(s.conn)
	}
	in := &Input{IP: ip, HELO: s.conn.Hostname(), MailFrom: s.from, SPF: spfRes}
	ctx := context.Background()
	res, err := s.o.Evaluator.Evaluate(ctx, in, sp.reader())
	if err != nil {
		s.logf("dmarc: %v", err)
		return nil, done, errLocal
	}
	s.result = res

	override := ""
	s.extra = nil
	for _, check := range s.o.Checks {
		cr := check(ctx, s.conn, sp.reader(), res)
		if cr.Result != nil {
			s.extra = append(s.extra, cr.Result)
		}
		if override == "" {
			override = cr.Override
		}
	}

	action := PolicyNone
	switch {
	case res.Status == StatusReject && s.o.Reject:
		action = PolicyReject
	case res.Status == StatusReject && s.o.Quarantine, res.Status == StatusQuarantine && s.o.Quarantine:
		action = PolicyQuarantine
	}
	if action != PolicyNone && override != "" {
		res.Override, action = override, PolicyNone
	}
	if s.o.History != nil {
		if err := s.o.History.Write("", res, action); err != nil {
			s.logf("%v", err)
		}
	}
	if s.o.FailureReports && s.o.Reporter != nil && res.WantsFailureReport() {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		if err := s.o.Reporter.SendFailure(ctx, res, s.from, sp.reader()); err != nil {
			s.logf("%v", err)
		}
		cancel()
	}
	switch {
	case action == PolicyReject:
		return nil, done, &smtp.SMTPError{
			Code:         550,
			EnhancedCode: smtp.EnhancedCode{5, 7, 1},
			Message:      replySafe("Rejected by the DMARC policy of " + res.UsedDomain),
		}
	case res.Status == StatusTempError && s.o.DeferTempError:
		return nil, done, &smtp.SMTPError{
			Code:         451,
			EnhancedCode: smtp.EnhancedCode{4, 7, 1},
			Message:      "Temporary DMARC error, try again later",
		}
	}
	s.quarantine = action == PolicyQuarantine

	msg, err := s.rewrite(sp, spfRes)
	if err != nil {
		s.logf("dmarc: %v", err)
		return nil, done, errLocal
	}
	return msg, done, nil
}

// rewrite returns the message with our Authentication-Results field on
// top and the incoming fields that claim our authserv-id removed (RFC
// 8601 section 5).
func (s *Session) rewrite(sp *spool, spfRes *authres.SPFResult) (io.Reader, error) {
	id := s.o.AuthServID
	if id == "" {
		id = s.conn.Server().Domain
	}
	if id == "" {
		id = "localhost"
	}
	var results []authres.Result
	if spfRes != nil {
		results = append(results, spfRes)
	}
	results = append(results, s.result.AuthResults()...)
	results = append(results, s.extra...)
	ar := FormatAuthResults(id, results)

	br := bufio.NewReader(sp.reader())
	fields, raw, err := readHeader(br, s.o.Evaluator.maxHeader)
	if err != nil {
		// Too large to filter: pass the header section on as it is.
		return io.MultiReader(strings.NewReader(ar), bytes.NewReader(raw), br), nil
	}
	var kept bytes.Buffer
	total := 0
	for _, f := range fields {
		total += len(f.raw)
		if strings.EqualFold(f.name, "Authentication-Results") && strings.EqualFold(authservID(f.value()), id) {
			continue
		}
		kept.Write(f.raw)
	}
	kept.Write(raw[total:]) // the empty line that ends the header section
	return io.MultiReader(strings.NewReader(ar), &kept, br), nil
}

func (s *Session) logf(format string, v ...any) {
	if srv := s.conn.Server(); srv != nil && srv.ErrorLog != nil {
		srv.ErrorLog.Printf(format, v...)
	}
}

// replySafe keeps reply text on one printable ASCII line.
func replySafe(s string) string { return asciiLine(s) }

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
		ip, ok := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), ok
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
