package dmarc

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"
	msgdmarc "github.com/emersion/go-msgauth/dmarc"
)

// MaxFailureMessageBytes is the largest message a failure report carries
// whole (message/rfc822); of a larger one it carries the header section
// only (text/rfc822-headers, RFC 6591 section 4).
const MaxFailureMessageBytes = 256 << 10

// WantsFailureReport reports whether the record that applied to r asks
// for a failure report about the message (RFC 7489 section 6.3, fo=): 0,
// the default, when neither SPF nor DKIM gave an aligned pass; 1 when
// either did not; d when a DKIM signature failed to verify, aligned or
// not; s when SPF failed, aligned or not. It needs ruf= destinations and
// a final status.
func (r *Result) WantsFailureReport() bool {
	switch r.Status {
	case StatusAccept, StatusNone, StatusQuarantine, StatusReject:
	default:
		return false
	}
	if r.Record == nil || len(r.Record.FailureURIs) == 0 {
		return false
	}
	fo := r.Record.fo
	if fo&msgdmarc.FailureAll != 0 && !r.SPFAligned && !r.DKIMAligned {
		return true
	}
	if fo&msgdmarc.FailureAny != 0 && (!r.SPFAligned || !r.DKIMAligned) {
		return true
	}
	if fo&msgdmarc.FailureDKIM != 0 {
		for _, k := range r.DKIM {
			if k.Result != authres.ResultPass {
				return true
			}
		}
	}
	if fo&msgdmarc.FailureSPF != 0 {
		switch r.SPF.Result {
		case authres.ResultFail, authres.ResultSoftFail, authres.ResultPermError:
			return true
		}
	}
	return false
}

// SendFailure sends the failure reports the record that applied to r
// asks for (WantsFailureReport), one RFC 6591 authentication failure
// report per ruf= destination, each allowed by RFC 7489 section 7.1 when
// outside the policy domain. mailFrom is the message's reverse-path and
// msg the message as received. With ReporterOptions.Redact, local parts
// are replaced and the body left out. It returns nil without reading msg
// when no report is wanted.
func (rp *Reporter) SendFailure(ctx context.Context, r *Result, mailFrom string, msg io.Reader) error {
	if !r.WantsFailureReport() {
		return nil
	}
	br := bufio.NewReader(msg)
	h, err := readHeader(br, DefaultMaxHeaderBytes)
	if err != nil {
		return fmt.Errorf("dmarc: failure report: %w", err)
	}
	return rp.sendFailure(ctx, r, mailFrom, h, br)
}

// sendFailure is SendFailure for a message whose header section h has
// been read, body being the rest.
func (rp *Reporter) sendFailure(ctx context.Context, r *Result, mailFrom string, h *header, br io.Reader) error {
	if !r.WantsFailureReport() {
		return nil
	}
	dests, derr := rp.destinations(ctx, r.Record.Domain, r.Record.FailureURIs)
	if len(dests) == 0 {
		return derr
	}
	header := h.raw
	body, err := io.ReadAll(io.LimitReader(br, MaxFailureMessageBytes+1))
	if err != nil {
		return fmt.Errorf("dmarc: failure report: %w", err)
	}
	whole := !rp.o.Redact && len(header)+len(body) <= MaxFailureMessageBytes
	var orig bytes.Buffer
	if rp.o.Redact {
		for i := range h.count() {
			orig.WriteString(redactLocalParts(string(h.field(i))))
		}
		mailFrom = redactLocalParts(mailFrom)
	} else {
		orig.Write(header)
		if !bytes.HasSuffix(header, []byte("\n\n")) && !bytes.HasSuffix(header, []byte("\r\n\r\n")) && whole {
			orig.WriteString("\r\n")
		}
		if whole {
			orig.Write(body)
		}
	}
	now := rp.o.Now()
	id := newJobID()
	report := rp.feedbackReport(r, mailFrom)
	err = rp.send(ctx, rp.o.FailureSender, dests, func(to string) []byte {
		var b strings.Builder
		boundary := "dmarc-failure-" + id
		hdr(&b, "From", rp.o.FailureSender)
		hdr(&b, "To", to)
		hdr(&b, "Subject", "DMARC failure report for "+r.FromDomain+" from IP "+r.IP.String())
		hdr(&b, "Date", now.Format(time.RFC1123Z))
		hdr(&b, "Message-ID", "<"+id+"@"+rp.o.Submitter+">")
		hdr(&b, "Auto-Submitted", "auto-generated")
		hdr(&b, "MIME-Version", "1.0")
		hdr(&b, "Content-Type", `multipart/report; report-type=feedback-report; boundary="`+boundary+`"`)
		b.WriteString("\r\n--" + boundary + "\r\n")
		hdr(&b, "Content-Type", "text/plain; charset=us-ascii")
		b.WriteString("\r\n")
		fmt.Fprintf(&b, "A message claiming to be from %s, received from %s, failed\r\n", r.FromDomain, r.IP)
		fmt.Fprintf(&b, "DMARC evaluation (%s): %s.\r\n\r\n", r.Status, asciiLine(r.StatusText))
		b.WriteString("--" + boundary + "\r\n")
		hdr(&b, "Content-Type", "message/feedback-report")
		b.WriteString("\r\n")
		b.WriteString(report)
		b.WriteString("\r\n--" + boundary + "\r\n")
		if whole {
			hdr(&b, "Content-Type", "message/rfc822")
		} else {
			hdr(&b, "Content-Type", "text/rfc822-headers")
		}
		b.WriteString("\r\n")
		b.Write(orig.Bytes())
		b.WriteString("\r\n--" + boundary + "--\r\n")
		return []byte(b.String())
	})
	if derr != nil {
		if err != nil {
			return fmt.Errorf("%w; %w", err, derr)
		}
		return derr
	}
	return err
}

// feedbackReport is the machine-readable part (RFC 5965 section 3.1,
// RFC 6591 section 3, RFC 7489 section 7.3).
func (rp *Reporter) feedbackReport(r *Result, mailFrom string) string {
	var b strings.Builder
	hdr(&b, "Feedback-Type", "auth-failure")
	hdr(&b, "User-Agent", rp.o.UserAgent)
	hdr(&b, "Version", "1")
	if mailFrom != "" {
		hdr(&b, "Original-Mail-From", "<"+asciiLine(mailFrom)+">")
	}
	hdr(&b, "Arrival-Date", r.Received.Format(time.RFC1123Z))
	if r.IP.IsValid() {
		hdr(&b, "Source-IP", r.IP.String())
	}
	hdr(&b, "Reported-Domain", r.FromDomain)
	ar := FormatAuthResults(rp.o.Submitter, r.AuthResults())
	b.WriteString(strings.TrimSuffix(ar, "\r\n") + "\r\n")
	hdr(&b, "Auth-Failure", "dmarc")
	var aligned []string
	if r.DKIMAligned {
		aligned = append(aligned, "dkim")
	}
	if r.SPFAligned {
		aligned = append(aligned, "spf")
	}
	if len(aligned) == 0 {
		aligned = []string{"none"}
	}
	hdr(&b, "Identity-Alignment", strings.Join(aligned, ", "))
	for _, k := range r.DKIM {
		if k.Result != authres.ResultPass && k.Domain != "" {
			hdr(&b, "DKIM-Domain", asciiLine(k.Domain))
			if k.Selector != "" {
				hdr(&b, "DKIM-Selector", asciiLine(k.Selector))
			}
			break
		}
	}
	return b.String()
}

// asciiLine keeps text on one printable ASCII line.
func asciiLine(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < ' ' || c > '~' {
			b[i] = '?'
		}
	}
	return string(b)
}

// redactLocalParts replaces the local part of every address-like
// "local@domain" in s with "redacted" (RFC 6590 section 4 leaves the
// method to the reporter; the domain stays, for the domain owner).
func redactLocalParts(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '@' {
			continue
		}
		start := i
		if start > 0 && s[start-1] == '"' {
			// A quoted local part: back to its opening quote.
			j := strings.LastIndexByte(s[:start-1], '"')
			if j >= last {
				start = j
			}
		} else {
			for start > last && !strings.ContainsRune(localPartStop, rune(s[start-1])) {
				start--
			}
		}
		if start == i {
			continue
		}
		b.WriteString(s[last:start])
		b.WriteString("redacted")
		last = i
	}
	b.WriteString(s[last:])
	return b.String()
}

const localPartStop = " \t\r\n<>()[],;:\"=/'@"
