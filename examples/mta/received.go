package main

import (
	"crypto/tls"
	"net"
	"strings"
	"time"

	"github.com/smtpkit/smtpkit/smtputf8"
)

// receivedInfo is what a Received header records of one transaction.
type receivedInfo struct {
	Helo      string
	PTR       string
	RemoteIP  net.IP
	Hostname  string
	TLS       *tls.ConnectionState
	Auth      bool
	UTF8      bool
	Comment   string // a requiretls.Status comment, "REQUIRETLS"
	ID        string
	Recipient string // only when the message has exactly one recipient
	Time      time.Time
}

// headerSafe keeps a client-supplied token from breaking the header: no
// controls, no white space, no non-ASCII, no comment delimiters.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r >= 0x7f || r == '(' || r == ')' || r == '\\' {
			return '?'
		}
		return r
	}, s)
}

// addressLiteral formats an IP as RFC 5321 section 4.1.3 does.
func addressLiteral(ip net.IP) string {
	if ip == nil {
		return "[unknown]"
	}
	if ip4 := ip.To4(); ip4 != nil {
		return "[" + ip4.String() + "]"
	}
	return "[IPv6:" + ip.String() + "]"
}

// header renders the trace field of RFC 5321 section 4.4, folded:
//
//	Received: from HELO (PTR [IP])
//		by HOSTNAME (smtpkit) with ESMTPS (TLS1.3) tls CIPHER
//		id ID
//		for <rcpt>; DATE
func (ri receivedInfo) header() string {
	var b strings.Builder
	b.WriteString("Received: from ")
	b.WriteString(headerSafe(ri.Helo))
	b.WriteString(" (")
	if ri.PTR != "" {
		b.WriteString(headerSafe(ri.PTR))
		b.WriteByte(' ')
	}
	b.WriteString(addressLiteral(ri.RemoteIP))
	b.WriteString(")\r\n\tby ")
	b.WriteString(ri.Hostname)
	b.WriteString(" (smtpkit) with ")
	// RFC 3848 (ESMTP, ESMTPS, ESMTPA, ESMTPSA), and for SMTPUTF8
	// transactions RFC 6531 section 4.3 (UTF8SMTP, UTF8SMTPS...).
	b.WriteString(smtputf8.ReceivedWith(ri.UTF8, ri.TLS != nil, ri.Auth))
	if ri.TLS != nil {
		// RFC 8314 section 4.3: the "tls" clause names the cipher suite.
		b.WriteString(" (")
		b.WriteString(strings.ReplaceAll(tls.VersionName(ri.TLS.Version), " ", ""))
		if ri.Comment != "" {
			b.WriteString(" " + ri.Comment)
		}
		b.WriteString(") tls ")
		b.WriteString(tls.CipherSuiteName(ri.TLS.CipherSuite))
	}
	b.WriteString("\r\n\tid ")
	b.WriteString(ri.ID)
	if ri.Recipient != "" {
		b.WriteString("\r\n\tfor <")
		b.WriteString(headerSafe(ri.Recipient))
		b.WriteString(">")
	}
	b.WriteString(";\r\n\t")
	b.WriteString(ri.Time.Format(time.RFC1123Z))
	b.WriteString("\r\n")
	return b.String()
}
