package main

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
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

// errTooManyReceived refuses a message that has been through too many
// hosts: RFC 5321 section 6.3 detects loops by counting Received fields,
// and RFC 3463 X.4.6 is "routing loop detected".
var errTooManyReceived = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 4, 6},
	Message: "Too many Received header fields: suspected mail loop"}

// receivedCounter passes a message through and counts the Received fields
// of its header section (RFC 5322 section 2.2): field names compared
// without case, a folded field once (its continuation lines start with
// white space), nothing after the empty line that ends the header, so a
// Received in the body (a forwarded message, a DSN's copy) is not counted.
// Once the count passes max, Read fails with errTooManyReceived; once the
// header section passes maxHeader bytes, with errHeaderTooLarge.
//
// The scan keeps a few bytes of state, whatever the length of the lines.
type receivedCounter struct {
	r         io.Reader
	max       int
	maxHeader int
	n         int
	size      int // bytes of the header section so far
	state     scanState
	name      int // bytes of "received" matched so far in stateName
}

// errHeaderTooLarge refuses a message whose header section is over the
// limit (Exim's header_maxsize): RFC 3463 X.3.4 is "message too big for
// system".
var errHeaderTooLarge = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
	Message: "Header section too large"}

type scanState int

const (
	stateLineStart scanState = iota // at the start of a header line
	stateLineCR                     // a CR at the start of a line
	stateName                       // in a field name that may be "Received"
	stateColon                      // after "Received", before its colon
	stateSkip                       // in the rest of a line
	stateBody                       // after the header section
)

const receivedName = "received"

func (rc *receivedCounter) Read(p []byte) (int, error) {
	n, err := rc.r.Read(p)
	if rc.state != stateBody {
		rc.scan(p[:n])
		if rc.n > rc.max {
			return n, errTooManyReceived
		}
		if rc.maxHeader > 0 && rc.size > rc.maxHeader {
			return n, errHeaderTooLarge
		}
	}
	return n, err
}

func (rc *receivedCounter) scan(p []byte) {
	for _, b := range p {
		if rc.state == stateBody {
			return
		}
		rc.size++
		switch rc.state {
		case stateLineStart:
			switch b {
			case '\n':
				rc.state = stateBody // an empty line (bare LF tolerated)
			case '\r':
				rc.state = stateLineCR
			case ' ', '\t':
				rc.state = stateSkip // a continuation line
			default:
				rc.state, rc.name = stateName, 0
				rc.nameByte(b)
			}
		case stateLineCR:
			if b == '\n' {
				rc.state = stateBody
			} else {
				rc.state = stateSkip
			}
		case stateName:
			rc.nameByte(b)
		case stateColon:
			switch b {
			case ':':
				rc.n++
				rc.state = stateSkip
			case ' ', '\t':
				// RFC 5322 section 4.5.3 (obs-optional): white space
				// before the colon.
			case '\n':
				rc.state = stateLineStart
			default:
				rc.state = stateSkip
			}
		case stateSkip:
			if b == '\n' {
				rc.state = stateLineStart
			}
		}
	}
}

// nameByte matches one byte of a field name against "received".
func (rc *receivedCounter) nameByte(b byte) {
	if b == '\n' {
		rc.state = stateLineStart
		return
	}
	if 'A' <= b && b <= 'Z' {
		b += 'a' - 'A'
	}
	if b != receivedName[rc.name] {
		rc.state = stateSkip
		return
	}
	if rc.name++; rc.name == len(receivedName) {
		rc.state = stateColon
	}
}
