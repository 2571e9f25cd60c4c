package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/smtpkit/smtpkit/smtputf8"
)

// maxDSNHeaders bounds how much of the original message a DSN returns: its
// header section only (RFC 3462 text/rfc822-headers), at most this many
// bytes.
const maxDSNHeaders = 64 << 10

// maxDSNLine is the longest line of a DSN: RFC 5322 section 2.1.1 says
// 998 bytes, and servers refuse longer ones.
const maxDSNLine = 998

// maxDSNReply bounds the text of a reply quoted in a DSN, so that its
// line, with the longest address, stays under maxDSNLine.
const maxDSNReply = 600

// buildDSN writes a delivery status notification for the failed
// recipients of q (RFC 3464), as a multipart/report (RFC 6522) with a
// human-readable part, the message/delivery-status part and the original
// header section. original reads the spooled message.
func buildDSN(hostname string, q *queued, failed []*queuedRcpt, original io.Reader, now time.Time) ([]byte, error) {
	var buf bytes.Buffer
	var rnd [12]byte
	rand.Read(rnd[:])
	boundary := "dsn-" + hex.EncodeToString(rnd[:])

	h := func(k, v string) { fmt.Fprintf(&buf, "%s: %s\r\n", k, v) }
	h("From", fmt.Sprintf("Mail Delivery System <MAILER-DAEMON@%s>", hostname))
	h("To", "<"+q.From+">")
	h("Subject", "Undelivered Mail Returned to Sender")
	h("Date", now.Format(time.RFC1123Z))
	h("Message-ID", fmt.Sprintf("<%s.dsn.%s@%s>", q.ID, hex.EncodeToString(rnd[:4]), hostname))
	h("Auto-Submitted", "auto-replied") // RFC 3834 section 5
	h("MIME-Version", "1.0")
	h("Content-Type", fmt.Sprintf("multipart/report; report-type=delivery-status;\r\n\tboundary=%q", boundary))
	buf.WriteString("\r\n")

	mw := multipart.NewWriter(&buf)
	if err := mw.SetBoundary(boundary); err != nil {
		return nil, err
	}

	// Part 1: for people.
	pw, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"text/plain; charset=utf-8"}})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(pw, "This is the mail system at %s.\r\n\r\n", hostname)
	fmt.Fprintf(pw, "Your message %s could not be delivered to one or more recipients.\r\n\r\n", q.ID)
	for _, r := range failed {
		fmt.Fprintf(pw, "<%s>: %s\r\n", r.Addr, dsnText(r.LastReply))
	}

	// Part 2: RFC 3464 section 2.2 per-message fields, then 2.3
	// per-recipient fields, each group after a blank line.
	pw, err = mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"message/delivery-status"}})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(pw, "Reporting-MTA: dns; %s\r\n", hostname)
	fmt.Fprintf(pw, "X-Queue-ID: %s\r\n", q.ID)
	fmt.Fprintf(pw, "Arrival-Date: %s\r\n", q.Arrived.Format(time.RFC1123Z))
	for _, r := range failed {
		// RFC 6533 section 3: a UTF-8 address as "utf-8;" and its
		// utf-8-addr-xtext, which keeps this part ASCII.
		typ, addr, _ := strings.Cut(smtputf8.DSNAddress(r.Addr, false), ";")
		fmt.Fprintf(pw, "\r\nFinal-Recipient: %s; %s\r\n", typ, addr)
		fmt.Fprintf(pw, "Action: failed\r\n")
		fmt.Fprintf(pw, "Status: %s\r\n", dsnStatus(r.LastReply))
		if r.RemoteMTA != "" {
			fmt.Fprintf(pw, "Remote-MTA: dns; %s\r\n", r.RemoteMTA)
		}
		if _, ok := replyCode(r.LastReply); ok {
			fmt.Fprintf(pw, "Diagnostic-Code: smtp; %s\r\n", dsnText(r.LastReply))
		} else {
			fmt.Fprintf(pw, "Diagnostic-Code: x-unix; %s\r\n", dsnText(r.LastReply))
		}
		fmt.Fprintf(pw, "Last-Attempt-Date: %s\r\n", now.Format(time.RFC1123Z))
	}

	// Part 3: the original header section (RFC 3462).
	pw, err = mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"text/rfc822-headers"}})
	if err != nil {
		return nil, err
	}
	if err := copyHeaderSection(pw, original); err != nil {
		return nil, err
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// copyHeaderSection copies the header section of r, the lines up to the
// first empty one (RFC 5322 section 2.1), at most maxDSNHeaders bytes of
// it, so that the copy is valid SMTP data whatever the original: each line
// CRLF-ended (a bare LF ends a line too), other controls but HTAB, bare CR
// and NUL included, as "?" (section 2.2), and a line longer than
// maxDSNLine cut into continuation lines (section 2.1.1).
func copyHeaderSection(w io.Writer, r io.Reader) error {
	br := bufio.NewReader(io.LimitReader(r, maxDSNHeaders))
	for first := true; ; {
		line, err := br.ReadString('\n')
		line = strings.TrimSuffix(line, "\n")
		line = strings.TrimSuffix(line, "\r")
		if line == "" || !headerLine(line, first) {
			// The end of the header section, or a message without
			// one: what follows is body and stays out of the DSN.
			return nil
		}
		first = false
		line = printable(line)
		for prefix := ""; line != ""; prefix = " " {
			n := min(len(line), maxDSNLine-len(prefix))
			if _, werr := io.WriteString(w, prefix+line[:n]+"\r\n"); werr != nil {
				return werr
			}
			line = line[n:]
		}
		if err != nil {
			return nil
		}
	}
}

// headerLine reports whether line can stand in a header section: a
// field's first line, "name:" with a name of printable ASCII but the
// colon (RFC 5322 section 2.2), or, after one, a folded continuation
// line (section 2.2.3).
func headerLine(line string, first bool) bool {
	if line[0] == ' ' || line[0] == '\t' {
		return !first
	}
	name, _, ok := strings.Cut(line, ":")
	if !ok || name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 33 || name[i] > 126 {
			return false
		}
	}
	return true
}

// printable replaces the controls of s but HTAB with "?", byte by byte
// (the rest, UTF-8 or not, is kept).
func printable(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 && c != '\t' || c == 0x7f {
			b[i] = '?'
		}
	}
	return string(b)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// dsnText is a reply for a DSN line: on one line, without controls, at
// most maxDSNReply bytes.
func dsnText(s string) string {
	s = printable(oneLine(s))
	if len(s) > maxDSNReply {
		s = s[:maxDSNReply]
	}
	return s
}

// replyCode extracts the 3-digit SMTP code that starts a recorded reply.
func replyCode(reply string) (int, bool) {
	if len(reply) < 3 {
		return 0, false
	}
	var code int
	if _, err := fmt.Sscanf(reply[:3], "%d", &code); err != nil || code < 200 || code > 599 {
		return 0, false
	}
	return code, true
}

// dsnStatus is the RFC 3463 status for the DSN: the enhanced code of the
// reply when it has one, else derived from the basic code; 4.4.7 (delivery
// time expired) when retries ran out.
func dsnStatus(reply string) string {
	if strings.HasPrefix(reply, "retry time exceeded") {
		return "4.4.7"
	}
	code, ok := replyCode(reply)
	if !ok {
		return "5.0.0"
	}
	if f := strings.Fields(reply); len(f) > 1 && isStatus(f[1], code/100) {
		return f[1]
	}
	return fmt.Sprintf("%d.0.0", code/100)
}

// isStatus says whether s is an RFC 3463 section 2 status code of class
// class: "class.subject.detail", subject and detail of one to three digits.
func isStatus(s string, class int) bool {
	f := strings.Split(s, ".")
	if len(f) != 3 || f[0] != strconv.Itoa(class) || (class != 2 && class != 4 && class != 5) {
		return false
	}
	for _, n := range f[1:] {
		if len(n) == 0 || len(n) > 3 || strings.Trim(n, "0123456789") != "" {
			return false
		}
	}
	return true
}
