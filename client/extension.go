package client

import (
	"errors"
	"fmt"

	"github.com/emersion/go-smtp"
)

// Extension is a feature package plugged into the engine through
// Options.Extensions. Name identifies it in errors and logs. The engine has
// no feature logic of its own: it looks for the optional interfaces below
// on each Extension and calls them at fixed points of the session, in the
// order of Options.Extensions.
//
//	Dial:  connect → EarlyPipeliner.PipelineOpening → banner → EHLO →
//	       STARTTLS → EHLO → AUTH → EarlyPipeliner.Opened
//	Send:  MailChecker.CheckMail → MailParamer.MailParams → MAIL, RCPT...,
//	       DATA or BDAT → DataReplyReader.ReadDataReply
//
// DialSend with an EarlyEnveloper that knows the capabilities runs Send's
// first hooks before the EHLO reply (EarlyEnveloper.CachedEHLO →
// MailChecker → MailParamer → EHLO, MAIL, RCPT..., DATA), then the rest of
// Dial and of Send.
//
// Hooks receive the *Conn to look at the server's capabilities
// (Conn.Extension) and TLS state (Conn.TLS); they must not call Send,
// Reset, Close or SMTPClient on it.
type Extension interface {
	Name() string
}

// MailChecker is an Extension that can refuse a message before anything of
// it is sent, when the connection lacks what the message needs: REQUIRETLS
// (RFC 8689) without TLS or without the keyword, for instance. A non-nil
// error refuses the message: Send returns an error wrapping ErrRefused and
// this one, and the recipients get the error's *smtp.SMTPError when it
// wraps one (5.7.30 for REQUIRETLS), a 451 4.3.0 otherwise.
type MailChecker interface {
	Extension
	CheckMail(c *Conn, env *Envelope) error
}

// MailParamer is an Extension that adds parameters to the MAIL command
// (RFC 5321 section 4.1.2 Mail-parameters): "PRDR", "REQUIRETLS",
// "RET=HDRS"... Each is "keyword" or "keyword=value", without spaces. It
// is asked for every message, so it can decide per envelope and per
// connection (only when the server advertised the keyword).
type MailParamer interface {
	Extension
	MailParams(c *Conn, env *Envelope) []string
}

// DataReplyReader is an Extension that reads what the server says after the
// end of the message data when that is more than one reply, as PRDR's
// "353" followed by one reply per recipient and a final one. The engine
// reads the first reply and asks each DataReplyReader in turn; one that
// recognises its protocol reads the rest with DataPhase.ReadReply and
// returns the outcome; one that does not returns (nil, nil) without
// reading. When none takes it, a 2xx, 4xx or 5xx first reply applies to
// every accepted recipient, and anything else is a protocol error.
//
// An error returned makes the connection unusable: the replies are out
// of step.
type DataReplyReader interface {
	Extension
	ReadDataReply(p *DataPhase) (*DataReply, error)
}

// DataPhase is what a DataReplyReader gets.
type DataPhase struct {
	Conn     *Conn
	Envelope *Envelope
	// Accepted are the recipients the server accepted at RCPT, in order.
	Accepted []string
	// First is the first reply after the end of the data.
	First *smtp.SMTPError

	c *Conn
}

// ReadReply reads the next reply, within Timeouts.DataEnd. Enhanced status
// codes are parsed (RFC 3463). A 421 reply is returned together with an
// error.
func (p *DataPhase) ReadReply() (*smtp.SMTPError, error) {
	rep, err := p.c.readReply(p.c.opts.Timeouts.DataEnd)
	if err != nil && rep.code == 0 {
		return nil, err
	}
	return rep.smtpError(true), err
}

// DataReply is the outcome a DataReplyReader reports.
type DataReply struct {
	// Recipients holds one reply per DataPhase.Accepted, in order; a
	// nil entry, or a nil slice, means Final applies to that recipient.
	Recipients []*smtp.SMTPError
	// Final is the reply that ended the data phase; it must not be nil.
	Final *smtp.SMTPError
}

// EarlyPipeliner is an Extension that lets the engine send its opening
// commands before the server's banner arrives: PIPECONNECT
// (draft-harris-early-pipe), when a cached EHLO reply of this server says
// it may. The first EarlyPipeliner that says yes decides.
type EarlyPipeliner interface {
	Extension
	// PipelineOpening is called once connected, before anything is read.
	// With ehlo true the engine writes its EHLO at once; with starttls
	// also true, and a policy other than TLSNone, it writes STARTTLS in
	// the same packet. Then it reads the banner and the replies in order.
	PipelineOpening(c *Conn) (ehlo, starttls bool)
	// Opened is called when Dial ends (in DialSend, before the replies
	// to an early envelope are read), with what the server answered, so
	// that the extension can update or drop its cache.
	Opened(c *Conn, o *Opening)
}

// EarlyEnveloper is an EarlyPipeliner that also knows, from a cache, the
// capabilities the server will announce, so that DialSend can write the
// first message's envelope with the EHLO before its reply arrives: with
// the early EHLO in plaintext, with the EHLO after the TLS handshake when
// STARTTLS went early.
//
// The MailChecker and MailParamer hooks for that envelope see the cached
// capabilities through Conn.Extension. When the EHLO reply comes, its
// keywords must be the cached ones (after Options.IgnoreKeywords, order
// aside); otherwise, or when the server refuses the session or answers
// out of step before any of the message is sent, DialSend closes the
// connection and fails with an error wrapping ErrEarlyFailed, and the
// caller should forget the entry and send again without early pipelining.
type EarlyEnveloper interface {
	EarlyPipeliner
	// CachedEHLO returns the keyword lines ("SIZE 52428800") of the
	// server's EHLO reply after TLS when afterTLS is true, of the
	// plaintext one otherwise; ok false means unknown.
	CachedEHLO(c *Conn, afterTLS bool) (keywords []string, ok bool)
}

// Opening is what the server answered while Dial opened a session.
type Opening struct {
	// Early is true when EHLO (and maybe STARTTLS) were written before
	// the banner. DialSend may have written an envelope too (see
	// EarlyEnveloper).
	Early bool
	// Banner is the greeting; nil if none was read.
	Banner *smtp.SMTPError
	// EHLO is the reply to the first EHLO, as received (keywords one per
	// line after the first); nil if not reached.
	EHLO *smtp.SMTPError
	// TLSEHLO is the reply to the EHLO after STARTTLS; nil without TLS.
	TLSEHLO *smtp.SMTPError
	// Err is Dial's error, nil when the session is ready.
	Err error
}

// refusal turns a MailChecker error into the reply given to recipients.
func refusal(err error) *smtp.SMTPError {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: err.Error()}
}

// checkParam validates a MAIL parameter from an extension or the caller.
func checkParam(p string) error {
	if p == "" {
		return errors.New("empty MAIL parameter")
	}
	for i := 0; i < len(p); i++ {
		if b := p[i]; b <= ' ' || b == 0x7f {
			return fmt.Errorf("MAIL parameter %q contains a space or control character", p)
		}
	}
	return nil
}
