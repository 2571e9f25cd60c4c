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
	"strings"
	"time"

	"github.com/smtpkit/smtpkit/smtputf8"
)

// maxDSNHeaders bounds how much of the original message a DSN returns: its
// header section only (RFC 3462 text/rfc822-headers), at most this many
// bytes.
const maxDSNHeaders = 64 << 10

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
		fmt.Fprintf(pw, "<%s>: %s\r\n", r.Addr, oneLine(r.LastReply))
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
			fmt.Fprintf(pw, "Diagnostic-Code: smtp; %s\r\n", oneLine(r.LastReply))
		} else {
			fmt.Fprintf(pw, "Diagnostic-Code: x-unix; %s\r\n", oneLine(r.LastReply))
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

// copyHeaderSection copies lines up to the first empty line, CRLF-ended,
// at most maxDSNHeaders bytes.
func copyHeaderSection(w io.Writer, r io.Reader) error {
	br := bufio.NewReader(io.LimitReader(r, maxDSNHeaders))
	for {
		line, err := br.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return nil
		}
		if _, werr := io.WriteString(w, line+"\r\n"); werr != nil {
			return werr
		}
		if err != nil {
			return nil
		}
	}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
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
	if f := strings.Fields(reply); len(f) > 1 {
		var a, b, c int
		if n, _ := fmt.Sscanf(f[1], "%d.%d.%d", &a, &b, &c); n == 3 && (a == 2 || a == 4 || a == 5) {
			return f[1]
		}
	}
	return fmt.Sprintf("%d.0.0", code/100)
}
