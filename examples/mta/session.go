package main

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/dmarc"
	"github.com/smtpkit/smtpkit/internal/netwrap"
	"github.com/smtpkit/smtpkit/prdr"
	"github.com/smtpkit/smtpkit/requiretls"
	"github.com/smtpkit/smtpkit/smtputf8"
	"github.com/smtpkit/smtpkit/spf"
	"golang.org/x/text/unicode/norm"
)

// junkFolder is the Maildir++ folder for quarantined mail.
const junkFolder = ".Junk"

// Limits on addresses; RFC 5321 section 4.5.3.1.
const (
	maxLocalPart = 64  // section 4.5.3.1.1
	maxDomain    = 255 // section 4.5.3.1.2
)

var (
	errNeedUTF8  = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 6, 7}, Message: "Non-ASCII address requires the SMTPUTF8 extension"}
	errBadUTF8   = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 6, 7}, Message: "Address is not valid UTF-8"}
	errBadMbox   = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Mailbox name not allowed"}
	errNoUser    = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	errRelay     = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relaying denied"}
	errNoSession = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Bad sequence of commands"}
)

// session is one go-smtp session: it validates the envelope and delivers.
type session struct {
	m      *mta
	c      *smtp.Conn
	conn   *trackedConn // nil only if the listener was not ours
	remote net.Addr
	helo   string
	tls    *tls.ConnectionState

	from      string
	utf8      bool
	size      int64
	mailboxes []string // local: normalized, without duplicates
	relayed   []string // non-local recipients, without duplicates
	mail      bool
	authUser  string            // after a successful AUTH
	rcptArgs  map[string]string // mailbox -> its RCPT argument, for per-recipient replies
}

func (m *mta) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s := &session{m: m, c: c, remote: c.Conn().RemoteAddr(), helo: c.Hostname()}
	if st, ok := netwrap.TLSState(c.Conn()); ok {
		s.tls = &st
	}
	if tc, ok := netwrap.Find[*trackedConn](c.Conn()); ok {
		s.conn = tc
		helo := s.helo
		tc.helo.Store(&helo)
		if s.tls != nil {
			info := tlsSummary(s.tls)
			tc.tlsInfo.Store(&info)
		}
	}
	return s, nil
}

func tlsSummary(st *tls.ConnectionState) string {
	return strings.ReplaceAll(tls.VersionName(st.Version), " ", "") + ":" + tls.CipherSuiteName(st.CipherSuite)
}

func (s *session) Reset() {
	s.from, s.utf8, s.size, s.mailboxes, s.relayed, s.mail = "", false, 0, nil, nil, false
	s.rcptArgs = nil
}

func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	s.Reset()
	if opts == nil {
		opts = &smtp.MailOptions{}
	}
	if hasControl(from) {
		return errControlSender
	}
	if err := checkEncoding(from, opts.UTF8); err != nil {
		return err
	}
	s.from, s.utf8, s.size, s.mail = from, opts.UTF8, opts.Size, true
	return nil
}

// checkEncoding enforces RFC 6531 section 3.4 with package smtputf8: a
// non-ASCII address only in an SMTPUTF8 transaction (553 5.6.7), and then
// only a well-formed RFC 6531 Mailbox. ASCII addresses are left to
// go-smtp. With -smtputf8 the smtputf8 session wrapper has already
// checked; without it, go-smtp refuses the SMTPUTF8 parameter, so every
// non-ASCII address gets 553 5.6.7 here.
func checkEncoding(addr string, utf8 bool) error {
	if isASCII(addr) {
		return nil
	}
	err := smtputf8.CheckAddress(addr, utf8)
	switch {
	case errors.Is(err, smtputf8.ErrNeedsSMTPUTF8):
		return errNeedUTF8
	case err != nil:
		return errBadUTF8
	}
	return nil
}

// RFC 5321 section 4.1.2: no character of a Mailbox is a control (a
// quoted local part holds printable ASCII only, qtextSMTP and
// quoted-pairSMTP); a NUL or a bare CR in an address could never be
// relayed nor have a DSN sent to it.
var (
	errControlSender = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "Control character in the sender address"}
	errControlRcpt   = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Control character in the recipient address"}
)

// hasControl reports whether s has an ASCII control character or DEL.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// mailboxName checks a recipient address and returns the mailbox it names,
// which is also its Maildir folder under DATA/maildir, or an SMTP error.
func (m *mta) mailboxName(addr string) (string, error) {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", errBadMbox
	}
	local, domain := addr[:at], aLabelDomain(addr[at+1:])
	if !m.isLocalDomain(domain) {
		return "", errRelay
	}
	if len(local) > maxLocalPart || len(domain) > maxDomain {
		return "", errBadMbox
	}
	// The mailbox becomes a folder name: no path separators, no controls.
	for _, r := range local {
		if r == '/' || r < 0x20 || r == 0x7f {
			return "", errBadMbox
		}
	}
	mailbox, err := mailboxFolder(local, domain)
	if err != nil {
		return "", errBadMbox
	}
	if m.mailboxes != nil && !m.mailboxes[mailbox] && !strings.EqualFold(local, "postmaster") {
		// RFC 5321 section 4.5.1: postmaster is always accepted.
		return "", errNoUser
	}
	return mailbox, nil
}

// mailboxFolder is the ASCII name of a mailbox, whatever the address:
// the local part lower-cased (local parts at our domains are caseless, as
// in Exim) and, when it is not ASCII, put in NFC and turned into "xn--"
// and its Punycode (smtputf8.LocalPartToALabel, Exim's
// utf8_localpart_to_alabel), "@", and the domain in lower-case A-labels
// (smtputf8.DomainToALabel). So "Ü@bücher.example" and "ü@BÜCHER.example"
// share the folder "xn--tda@xn--bcher-kva.example".
func mailboxFolder(local, domain string) (string, error) {
	if !isASCII(local) {
		local = norm.NFC.String(local) // RFC 6530 section 10.1
	}
	l, err := smtputf8.LocalPartToALabel(strings.ToLower(local))
	if err != nil {
		return "", err
	}
	d, err := smtputf8.DomainToALabel(normalizeDomain(domain))
	if err != nil {
		return "", err
	}
	mb := l + "@" + strings.ToLower(d)
	if len(mb) > maxFolderName {
		// Its folder could not be made: refused at RCPT rather than
		// deferred for ever. The A-label form of a UTF-8 local part is
		// longer than the address, so the check is on the result.
		return "", errFolderTooLong
	}
	return mb, nil
}

// isLocalDomain compares in A-labels: -local-domains are converted too.
func (m *mta) isLocalDomain(d string) bool {
	d = aLabelDomain(d)
	for _, ld := range m.cfg.LocalDomains {
		if d == ld {
			return true
		}
	}
	return false
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !s.mail {
		return errNoSession
	}
	if hasControl(to) {
		return errControlRcpt
	}
	if err := checkEncoding(to, s.utf8); err != nil {
		return err
	}
	if at := strings.LastIndexByte(to, '@'); at > 0 && !s.m.isLocalDomain(to[at+1:]) {
		return s.relayRcpt(to[:at] + "@" + normalizeDomain(to[at+1:]))
	}
	mb, err := s.m.mailboxName(to)
	if err != nil {
		return err
	}
	for _, have := range s.mailboxes {
		if have == mb {
			return nil // one copy per mailbox
		}
	}
	// Under PRDR the quota is decided after the data, per recipient, with
	// the message's real size (LMTPData).
	if !prdr.Requested(s.c.Conn()) {
		if err := s.m.store.checkQuota(mb, s.size); err != nil {
			s.m.log.Info("recipient refused", "conn", s.connID(), "rcpt", mb, "err", err)
			return reply(err)
		}
	}
	s.mailboxes = append(s.mailboxes, mb)
	if s.rcptArgs == nil {
		s.rcptArgs = map[string]string{}
	}
	s.rcptArgs[mb] = to
	return nil
}

// relayRcpt accepts a non-local recipient from an authenticated client or
// one in -relay-from; anyone else is refused (no open relay).
func (s *session) relayRcpt(to string) error {
	if s.authUser == "" && !s.m.relayAllowed(s.remote) {
		return errRelay
	}
	if strings.ContainsAny(to, " \t\r\n\x00") || len(to) > maxLocalPart+1+maxDomain {
		return errBadMbox
	}
	for _, have := range s.relayed {
		if have == to {
			return nil
		}
	}
	s.relayed = append(s.relayed, to)
	return nil
}

func (s *session) connID() uint64 {
	if s.conn == nil {
		return 0
	}
	return s.conn.id
}

func (s *session) Data(r io.Reader) error { return s.receive(r, nil) }

// LMTPData is called behind the front (-prdr, -pipeconnect). With PRDR
// requested (RFC draft-hall-prdr, Exim's acl_smtp_data_prdr), each local
// mailbox decides on its quota with the message's size and gets its own
// reply: the over-quota recipient 452 4.2.2, the others their copies.
// Without PRDR every recipient gets the one result of Data.
func (s *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	if !prdr.Requested(s.c.Conn()) {
		return s.Data(r)
	}
	return s.receive(r, func(size int64, local []string) []string {
		kept := local[:0:0]
		for i, mb := range s.mailboxes {
			if err := s.m.store.checkQuota(mb, size); err != nil {
				s.m.log.Info("recipient refused after data", "conn", s.connID(), "rcpt", mb, "err", err)
				status.SetStatus(s.rcptArgs[mb], reply(err))
				continue
			}
			kept = append(kept, local[i])
		}
		return kept
	})
}

// receive stores the message for its recipients before the reply; filter,
// when set, decides the local mailboxes once the size is known.
func (s *session) receive(r io.Reader, filter localFilter) error {
	if !s.mail || len(s.mailboxes)+len(s.relayed) == 0 {
		return errNoSession
	}
	s.m.inflight.Add(1)
	defer s.m.inflight.Done()

	ri := receivedInfo{
		Helo:     s.helo,
		RemoteIP: remoteIP(s.remote),
		Hostname: s.m.cfg.Hostname,
		TLS:      s.tls,
		UTF8:     s.utf8,
		Auth:     s.authUser != "",
		Comment:  requireTLSComment(s.c),
		ID:       newMessageID(),
		Time:     time.Now(),
	}
	if s.conn != nil {
		ri.PTR = s.conn.reverseName()
	}
	if all := append(append([]string(nil), s.mailboxes...), s.relayed...); len(all) == 1 {
		ri.Recipient = all[0]
	}
	header := ri.header()
	if o := spf.FromConn(s.c); o != nil && o.Received != "" {
		// RFC 7208 section 9.1: Received-SPF goes above our Received.
		header = strings.TrimRight(o.Received, "\r\n") + "\r\n" + header
	}
	local := s.mailboxes
	if dmarc.Quarantined(s.c) {
		// DMARC quarantine (RFC 7489 section 6.3): local copies go to the
		// Maildir++ .Junk folder instead of the inbox.
		local = make([]string, len(s.mailboxes))
		for i, mb := range s.mailboxes {
			local[i] = mb + "/" + junkFolder
		}
	}
	var st requiretls.Status // with -requiretls (requiretls.WrapBackend)
	flags := func() msgFlags {
		// Asked once the message was read: TLS-Required is in its header.
		st, _ = requiretls.FromConn(s.c)
		return msgFlags{UTF8: s.utf8, RequireTLS: st.Required, TLSOptional: st.TLSOptional}
	}
	// RFC 5321 section 6.3: a message that has passed too many hosts is
	// in a loop; it is refused at the end of its data.
	maxReceived := s.m.cfg.MaxReceived
	if maxReceived <= 0 {
		maxReceived = defaultMaxReceived
	}
	maxHeader := s.m.cfg.HeaderMax
	if maxHeader <= 0 {
		maxHeader = defaultHeaderMax
	}
	r = &receivedCounter{r: r, max: maxReceived, maxHeader: maxHeader}
	size, err := s.m.accept(ri.ID, s.from, header, r, local, s.relayed, flags, filter)
	if err != nil {
		s.m.log.Warn("message not accepted", "conn", s.connID(), "id", ri.ID, "from", "<"+s.from+">", "err", err)
		return reply(err)
	}
	if s.conn != nil {
		s.conn.messages.Add(1)
	}
	attrs := []any{"conn", s.connID(), "id", ri.ID, "from", "<" + s.from + ">",
		"rcpts", strings.Join(append(append([]string(nil), s.mailboxes...), s.relayed...), ","), "size", size}
	if s.authUser != "" {
		attrs = append(attrs, "user", s.authUser)
	}
	if prx := proxyAddr(s.c.Conn()); prx != "" {
		attrs = append(attrs, "PRX", prx)
	}
	if s.tls != nil {
		attrs = append(attrs, "tls", tlsSummary(s.tls))
	}
	if len(s.relayed) == 0 {
		st, _ = requiretls.FromConn(s.c)
	}
	if c := st.Comment(); c != "" {
		attrs = append(attrs, "requiretls", c)
	}
	if s.utf8 {
		attrs = append(attrs, "smtputf8", true)
	}
	s.m.log.Info("message accepted", attrs...)
	return nil
}

// requireTLSComment is "REQUIRETLS" for a message that asked for it on
// MAIL (with -requiretls), for the Received header; a TLS-Required field
// is only known once the header was read, too late for it.
func requireTLSComment(c *smtp.Conn) string {
	if st, ok := requiretls.FromConn(c); ok && st.Required {
		return st.Comment()
	}
	return ""
}

// reply returns the *smtp.SMTPError inside err: go-smtp only recognises
// the bare type, and the detail (paths, OS errors) belongs in the log, not
// in the reply. Anything else is a local error, never a permanent one.
func reply(err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	return errLocalWrite
}

// newMessageID returns a unique, sortable id: base-36 seconds and a random
// part.
func newMessageID() string {
	var b [5]byte
	rand.Read(b[:])
	return strings.ToUpper(strconv.FormatInt(time.Now().Unix(), 36)) + "-" + strings.ToUpper(hex.EncodeToString(b[:]))
}
