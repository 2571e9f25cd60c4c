package prdr

import (
	"net"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/front"
)

// Keyword is the EHLO keyword and the MAIL parameter
// (draft-hall-prdr-00 section 3).
const Keyword = "PRDR"

// Requested reports whether the client asked for PRDR in the current
// transaction of the session behind nc, the (*smtp.Conn).Conn() of a
// go-smtp session served by a front with the prdr Server extension. A
// session uses it in LMTPData: with PRDR and two or more recipients each
// recipient gets its own reply; without, it should answer uniformly (see
// the front package).
func Requested(nc net.Conn) bool {
	fc, ok := front.FromConn(nc)
	if !ok {
		return false
	}
	_, ok = fc.MailParam(Keyword)
	return ok
}

func reply(code int, ec smtp.EnhancedCode, msg string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: ec, Message: msg}
}
