package front

import (
	"time"

	"github.com/emersion/go-smtp"
)

// Extension is a feature plugged into the front through Options.Extensions.
// Name identifies it in logs. The front has no feature logic of its own: it
// looks for the optional interfaces below on each Extension and calls them,
// in the order of Options.Extensions, at fixed points of a session:
//
//	connect:  EarlyInputPolicy.EarlyInput → banner
//	EHLO:     Advertiser.Advertise (edits the keyword list)
//	MAIL:     MailParamer.ClaimsMailParam, MailParamer.MailParam
//	data end: DataReplier.DataReplies (DATA and BDAT LAST)
//
// Hooks run on the connection's goroutine; they must not block for long.
type Extension interface {
	Name() string
}

// Advertiser is an Extension that edits the EHLO keywords (RFC 5321
// section 4.1.1.1): it gets the list the front is about to send, without
// the first "domain" line, and returns it with its own keywords added (or
// some removed). Each entry is "KEYWORD" or "KEYWORD params".
type Advertiser interface {
	Extension
	Advertise(c *Conn, keywords []string) []string
}

// MailParamer is an Extension that handles MAIL parameters (RFC 5321
// section 4.1.2, Mail-parameters) go-smtp does not know, such as PRDR. A
// claimed parameter is removed from the MAIL command before go-smtp sees
// it, and is visible during the transaction through Conn.MailParam.
type MailParamer interface {
	Extension
	// ClaimsMailParam reports whether the extension handles the
	// parameter keyword (upper case).
	ClaimsMailParam(keyword string) bool
	// MailParam accepts a claimed parameter: note, when not empty, is
	// appended to the 250 reply to MAIL ("PRDR Requested"). A non-nil
	// error refuses the MAIL command with its *smtp.SMTPError, or with
	// 555 5.5.4 when it wraps none (RFC 5321 section 4.1.1.11).
	MailParam(c *Conn, keyword, value string) (note string, err error)
}

// RcptStatus is the data-time outcome for one recipient accepted at RCPT,
// as the go-smtp session reported it (LMTPData and its StatusCollector;
// the same status for all when the session has only Data).
type RcptStatus struct {
	// Address is the forward path, without angle brackets.
	Address string
	// Reply is the session's status: code 250 when it accepted.
	Reply *smtp.SMTPError
}

// DataReplier is an Extension that shapes what the client gets after the
// end of the message data (the final dot of DATA, RFC 5321 section
// 4.1.1.4, or BDAT LAST, RFC 3030 section 2). It gets one status per
// recipient accepted at RCPT, in RCPT order. It returns the replies to
// send, in order (PRDR: 353, one per recipient, a final one), or nil when
// it does not apply; the first DataReplier that answers decides.
//
// When none answers, the front sends a single reply: the common status
// when every recipient got the same class of reply, and otherwise (a
// session that answered per recipient although the client cannot read
// per-recipient replies) 451 4.3.0, so that the client retries the whole
// message and no recipient is silently dropped. See the package
// documentation.
type DataReplier interface {
	Extension
	DataReplies(c *Conn, rcpts []RcptStatus) []*smtp.SMTPError
}

// Early says what the front does with input a client sends before the
// banner.
type Early int

const (
	// EarlyTolerate reads such input as if it came after the banner, as
	// go-smtp does; the banner is sent at once.
	EarlyTolerate Early = iota
	// EarlyAllow processes it, and holds the banner back so that it
	// leaves in one write with the replies to that input
	// (draft-harris-early-pipe section 3).
	EarlyAllow
	// EarlyRefuse answers it with "554 5.5.0 SMTP synchronization error"
	// and closes the connection (RFC 5321 section 4.3.1: the client must
	// wait for the greeting; Exim's smtp_enforce_sync).
	EarlyRefuse
)

// EarlyInputPolicy is an Extension that decides, per connection, what
// happens to input sent before the banner, and how long the front waits
// for such input before it sends the banner. EarlyAllow from any policy
// wins over EarlyRefuse, which wins over EarlyTolerate; the longest wait
// of the deciding policies applies.
type EarlyInputPolicy interface {
	Extension
	EarlyInput(c *Conn) (Early, time.Duration)
}
