package prdr

import (
	"strings"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/front"
)

// Server is the receiving side of PRDR, a front.Extension. Its zero
// value is ready to use: list it in front.Options.Extensions.
//
// It advertises PRDR in the EHLO reply, accepts the MAIL parameter PRDR
// (no value; the 250 reply says "PRDR Requested") and, when PRDR was
// requested and two or more recipients were accepted at RCPT, answers the
// end of data with 353, one reply per accepted recipient in RCPT order
// (the session's status for it) and a final reply (draft-hall-prdr-00
// section 4). With one recipient the ordinary single reply is sent.
type Server struct{}

var (
	_ front.Advertiser  = Server{}
	_ front.MailParamer = Server{}
	_ front.DataReplier = Server{}
)

// Name implements front.Extension.
func (Server) Name() string { return "prdr" }

// Advertise adds the PRDR keyword to the EHLO reply (section 3).
func (Server) Advertise(_ *front.Conn, kws []string) []string {
	return append(kws, Keyword)
}

// ClaimsMailParam claims the PRDR parameter.
func (Server) ClaimsMailParam(kw string) bool { return kw == Keyword }

// MailParam accepts PRDR without a value, when it was advertised.
func (Server) MailParam(c *front.Conn, _, value string) (string, error) {
	if value != "" {
		return "", reply(501, smtp.EnhancedCode{5, 5, 4}, "PRDR takes no value")
	}
	if !c.Advertised(Keyword) {
		// RFC 5321 section 4.1.1.11: a parameter of an extension not
		// offered (after HELO, say).
		return "", reply(555, smtp.EnhancedCode{5, 5, 4}, "PRDR not offered")
	}
	return "PRDR Requested", nil
}

// DataReplies gives the PRDR reply sequence (section 4): 353, a reply per
// recipient, and a final reply that is 250 when any recipient accepted
// the message, 4xx when none did and some were deferred (so that a client
// does not fail those), 550 when all were refused.
func (Server) DataReplies(c *front.Conn, rcpts []front.RcptStatus) []*smtp.SMTPError {
	if _, ok := c.MailParam(Keyword); !ok || len(rcpts) < 2 {
		return nil
	}
	out := make([]*smtp.SMTPError, 0, len(rcpts)+2)
	out = append(out, reply(353, smtp.NoEnhancedCode, "PRDR content analysis beginning"))
	accepted, deferred := 0, 0
	for _, r := range rcpts {
		e := *r.Reply
		text := strings.TrimSpace(e.Message)
		switch e.Code / 100 {
		case 2:
			accepted++
			if text == "" || text == "OK: queued" {
				text = "acceptance"
			}
		case 4:
			deferred++
		}
		e.Message = "PRDR R=<" + r.Address + "> " + text
		out = append(out, &e)
	}
	var final *smtp.SMTPError
	switch {
	case accepted == len(rcpts):
		final = reply(250, smtp.EnhancedCode{2, 0, 0}, "message accepted")
	case accepted > 0:
		final = reply(250, smtp.EnhancedCode{2, 0, 0}, "message accepted for some recipients")
	case deferred > 0:
		final = reply(450, smtp.EnhancedCode{4, 0, 0}, "message deferred or rejected for all recipients")
	default:
		final = reply(550, smtp.EnhancedCode{5, 0, 0}, "message rejected for all recipients")
	}
	return append(out, final)
}
