package dmarc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
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

	// DeliverTempError delivers messages whose status is temperror (a
	// DNS failure kept the policy or an aligned identifier from being
	// checked) when Reject or Quarantine is set. By default they are
	// answered 451 4.7.1, so that the client tries again later: a
	// result that cannot be computed never lets a message past a
	// policy. With neither Reject nor Quarantine, nothing is enforced
	// and temperror is delivered like every other status.
	DeliverTempError bool

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
	// and the history records the override. It does so only for a
	// message with one Author Domain: not for nofrom, and not for
	// several From fields or addresses, of which a check that vouches
	// for what an earlier receiver saw cannot vouch for all.
	Checks []Check

	// SpoolDir holds the temporary files of messages larger than
	// SpoolMemory; "" means os.TempDir().
	SpoolDir string

	// SpoolMemory is how much of a message is kept in memory; 0 means
	// DefaultSpoolMemory.
	SpoolMemory int

	// DeliverNoFrom delivers messages whose status is nofrom (no From
	// field, or one with no usable domain: RFC 7489 section 6.6.1). By
	// default the wrapper treats them as the reject policy: refused
	// with 550 5.7.1 when Reject is set, quarantined when only
	// Quarantine is. A From field with a usable domain is evaluated
	// all the same, whatever else the message's From fields hold.
	DeliverNoFrom bool

	// Logger gets the wrapper's log lines: refusals at info, a 451 after
	// a failed evaluation, and errors writing the history or sending
	// reports, at warn. nil means slog.Default().
	Logger *slog.Logger
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
// address, pass unevaluated with StatusOff, yet with the forged fields
// removed and our field, which says none, on top. A header section over
// the Evaluator's MaxHeaderBytes is refused with 552 5.3.4 on every
// path. The message is spooled, in
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

// The replies of the session wrapper.
var (
	// errLocal is the reply when the message cannot be spooled, read or
	// evaluated.
	errLocal = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Local error in processing"}

	// errHeaderTooLarge refuses a header section over the limit (RFC
	// 3463 section 3.4: message too big for system), as Exim does past
	// header_maxsize.
	errHeaderTooLarge = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message header section too large"}

	// errTooManyAuthors refuses a message whose From fields name more
	// domains than can be evaluated.
	errTooManyAuthors = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Too many author domains in From to evaluate DMARC"}
)

// evaluate spools and evaluates the message, does what the result and
// the options say, and returns the message to pass on (nil with an
// error to refuse it) and a function that releases the spool.
func (s *Session) evaluate(r io.Reader) (io.Reader, func(), error) {
	nothing := func() {}
	s.result, s.quarantine, s.extra = nil, false, nil
	// A client without an IP address (a Unix socket, a pipe) is
	// evaluated all the same: the policy does not depend on the address,
	// and only reports lack it.
	ip, _ := remoteIP(s.conn.Conn())
	if s.authed {
		// Nothing is evaluated, but the header section is read all the
		// same: its size is bounded, and Authentication-Results fields
		// claiming our authserv-id go (RFC 8601 section 5).
		why := "authenticated session"
		br := bufio.NewReader(r)
		h, err := readHeader(br, s.o.Evaluator.maxHeader)
		if err != nil {
			return nil, nothing, s.readError(err)
		}
		s.result = &Result{Status: StatusOff, StatusText: "DMARC not checked: " + why, IP: ip}
		return s.rewrite(h, br, s.spf()), nothing, nil
	}
	sp := &spool{dir: s.o.SpoolDir, limit: s.o.SpoolMemory}
	done := sp.close
	if _, err := io.Copy(sp, r); err != nil {
		return nil, done, s.readError(err)
	}
	h, body, err := sp.header(s.o.Evaluator.maxHeader)
	if err != nil {
		return nil, done, s.readError(err)
	}
	spfRes := s.spf()
	in := &Input{IP: ip, HELO: s.conn.Hostname(), MailFrom: s.from, SPF: spfRes}
	ctx := context.Background()
	res, err := s.o.Evaluator.evaluateHeader(ctx, in, h, body)
	if errors.Is(err, ErrTooManyAuthors) {
		s.log().Info("dmarc: message refused", "err", err, "ip", ip, "mail_from", s.from)
		return nil, done, errTooManyAuthors
	}
	if err != nil {
		s.log().Warn("dmarc: evaluation failed, answering 451", "err", err, "ip", ip, "mail_from", s.from)
		return nil, done, errLocal
	}
	res = s.decisive(res)
	s.result = res

	override := ""
	for _, check := range s.o.Checks {
		cr := check(ctx, s.conn, sp.reader(), res)
		if cr.Result != nil {
			s.extra = append(s.extra, cr.Result)
		}
		if override == "" {
			override = cr.Override
		}
	}

	action := s.action(res)
	switch {
	case override == "" || action != PolicyReject && action != PolicyQuarantine:
	case res.Status == StatusNoFrom || len(res.Authors) > 0:
		// An override vouches for the one author its check saw pass; a
		// From field added beside that one (ARC and DKIM signatures
		// cover the lowest From field only) has none.
		s.log().Info("dmarc: local policy override not applied", "override", override, "authors", len(res.Authors), "mail_from", s.from)
	default:
		res.Override, action = override, PolicyNone
	}
	if s.o.History != nil {
		if err := s.o.History.Write("", res, action); err != nil {
			s.log().Warn("dmarc: history", "err", err)
		}
	}
	if s.o.FailureReports && s.o.Reporter != nil && res.WantsFailureReport() {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		rest := sp.readerFrom(int64(len(h.raw)))
		if err := s.o.Reporter.sendFailure(ctx, res, s.from, h, rest); err != nil {
			s.log().Warn("dmarc: failure report", "err", err)
		}
		cancel()
	}
	switch {
	case action == PolicyReject && res.Status == StatusNoFrom:
		return nil, done, &smtp.SMTPError{
			Code:         550,
			EnhancedCode: smtp.EnhancedCode{5, 7, 1},
			Message:      replySafe("No usable author domain in From, refused by DMARC (RFC 7489 section 6.6.1)"),
		}
	case action == PolicyReject:
		return nil, done, &smtp.SMTPError{
			Code:         550,
			EnhancedCode: smtp.EnhancedCode{5, 7, 1},
			Message:      replySafe("Rejected by the DMARC policy of " + res.UsedDomain),
		}
	case res.Status == StatusTempError && s.deferTempError():
		s.log().Warn("dmarc: temporary error, answering 451", "err", res.Err, "domain", res.FromDomain, "ip", ip, "mail_from", s.from)
		return nil, done, &smtp.SMTPError{
			Code:         451,
			EnhancedCode: smtp.EnhancedCode{4, 7, 1},
			Message:      "Temporary DMARC error, try again later",
		}
	}
	s.quarantine = action == PolicyQuarantine
	return s.rewrite(h, sp.readerFrom(int64(len(h.raw))), spfRes), done, nil
}

// spf is the SPF result of the transaction, nil for none.
func (s *Session) spf() *authres.SPFResult {
	if s.o.SPF != nil {
		return s.o.SPF(s.conn)
	}
	return nil
}

// readError is the reply when the message cannot be read or spooled.
// go-smtp's own errors (a message over the size limit) reach the client
// as they are.
func (s *Session) readError(err error) error {
	var se *smtp.SMTPError
	switch {
	case errors.As(err, &se):
		return err
	case errors.Is(err, ErrHeaderTooLarge):
		s.log().Info("dmarc: message refused", "err", err, "mail_from", s.from)
		return errHeaderTooLarge
	}
	s.log().Warn("dmarc: reading the message failed, answering 451", "err", err, "mail_from", s.from)
	return errLocal
}

// action is what the options make of r: reject (refuse), quarantine,
// or none (deliver). A nofrom result is refused, or quarantined when only
// Quarantine is set, unless DeliverNoFrom is set: a From field that
// cannot be evaluated must not be a way around a policy.
func (s *Session) action(r *Result) Policy {
	status := r.Status
	if status == StatusNoFrom && !s.o.DeliverNoFrom {
		status = StatusReject
	}
	switch {
	case status == StatusReject && s.o.Reject:
		return PolicyReject
	case status == StatusReject && s.o.Quarantine, status == StatusQuarantine && s.o.Quarantine:
		return PolicyQuarantine
	}
	return PolicyNone
}

// deferTempError reports whether a temperror is answered 451: when a
// policy is enforced, unless DeliverTempError.
func (s *Session) deferTempError() bool {
	return (s.o.Reject || s.o.Quarantine) && !s.o.DeliverTempError
}

// severity orders what the session does with a result: refuse, defer,
// quarantine, deliver.
func (s *Session) severity(r *Result) int {
	switch a := s.action(r); {
	case a == PolicyReject:
		return 3
	case r.Status == StatusTempError && s.deferTempError():
		return 2
	case a == PolicyQuarantine:
		return 1
	}
	return 0
}

// decisive returns, for a message with several Author Domains, the
// result of the one whose handling under the options is the strictest
// (RFC 7489 section 6.6.1), Result.Stricter breaking ties; r itself
// otherwise.
func (s *Session) decisive(r *Result) *Result {
	if len(r.Authors) == 0 {
		return r
	}
	best := r.Authors[0]
	for _, a := range r.Authors[1:] {
		sa, sb := s.severity(a), s.severity(best)
		if sa > sb || sa == sb && a.Stricter(best) {
			best = a
		}
	}
	top := *best
	top.Authors = r.Authors
	return &top
}

// rewrite returns the message, its header section h and the rest, with
// our Authentication-Results field on top and the incoming fields that
// claim our authserv-id removed (RFC 8601 section 5).
func (s *Session) rewrite(h *header, rest io.Reader, spfRes *authres.SPFResult) io.Reader {
	id := s.authServID()
	var results []authres.Result
	if spfRes != nil {
		results = append(results, spfRes)
	}
	results = append(results, s.result.AuthResults()...)
	results = append(results, s.extra...)
	ar := FormatAuthResults(id, results)
	return io.MultiReader(strings.NewReader(ar), bytes.NewReader(h.withoutAuthResults(id)), rest)
}

func (s *Session) authServID() string {
	id := s.o.AuthServID
	if id == "" {
		id = s.conn.Server().Domain
	}
	if id == "" {
		id = "localhost"
	}
	return id
}

// log is the logger of the options, or slog's default.
func (s *Session) log() *slog.Logger {
	if s.o.Logger != nil {
		return s.o.Logger
	}
	return slog.Default()
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
