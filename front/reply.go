package front

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"
)

// maxInnerReplyLines bounds a reply from go-smtp (an EHLO reply has one
// line per keyword).
const maxInnerReplyLines = 100

// innerReply is a reply as go-smtp wrote it.
type innerReply struct {
	code  int
	lines []string // text of each line, without code and separator
}

// text is the reply's lines joined by "\n", as reply takes them.
func (r innerReply) text() string { return strings.Join(r.lines, "\n") }

// smtpError turns a one-line reply into an *smtp.SMTPError, with the
// enhanced status code split off (RFC 3463, RFC 2034 section 4).
func (r innerReply) smtpError() *smtp.SMTPError {
	text := ""
	if len(r.lines) > 0 {
		text = r.lines[len(r.lines)-1]
	}
	e := &smtp.SMTPError{Code: r.code, EnhancedCode: smtp.NoEnhancedCode, Message: text}
	if ec, rest, ok := parseEnhanced(text); ok {
		e.EnhancedCode, e.Message = ec, rest
	}
	return e
}

// readInnerReply reads one possibly multi-line reply (RFC 5321 section
// 4.2.1).
func readInnerReply(r *bufio.Reader) (innerReply, error) {
	var rep innerReply
	for len(rep.lines) < maxInnerReplyLines {
		line, err := r.ReadString('\n')
		if err != nil {
			return rep, err
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 3 {
			return rep, fmt.Errorf("short reply line %q", line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil || code < 200 || code > 599 {
			return rep, fmt.Errorf("bad reply line %q", line)
		}
		if rep.code != 0 && code != rep.code {
			return rep, fmt.Errorf("reply code changed within a reply: %q", line)
		}
		rep.code = code
		rest := line[3:]
		more := strings.HasPrefix(rest, "-")
		if len(rest) > 0 {
			rest = rest[1:]
		}
		rep.lines = append(rep.lines, rest)
		if !more {
			return rep, nil
		}
	}
	return rep, errors.New("reply too long")
}

// parseEnhanced splits "x.y.z text" (RFC 3463 section 2) off a reply line.
func parseEnhanced(text string) (smtp.EnhancedCode, string, bool) {
	first, rest, _ := strings.Cut(text, " ")
	parts := strings.Split(first, ".")
	if len(parts) != 3 {
		return smtp.EnhancedCode{}, text, false
	}
	var ec smtp.EnhancedCode
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 999 || len(p) > 3 {
			return smtp.EnhancedCode{}, text, false
		}
		ec[i] = n
	}
	if ec[0] < 2 || ec[0] > 5 {
		return smtp.EnhancedCode{}, text, false
	}
	return ec, rest, true
}

// formatText is the text of a reply line for e: the enhanced code (when
// set) and the message; the lines of a multi-line message each get the
// code.
func formatText(e *smtp.SMTPError) string {
	msg := strings.ReplaceAll(e.Message, "\r", "")
	if e.EnhancedCode == smtp.NoEnhancedCode || e.EnhancedCode == (smtp.EnhancedCode{}) {
		return msg
	}
	ec := fmt.Sprintf("%d.%d.%d", e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2])
	lines := strings.Split(msg, "\n")
	for i := range lines {
		lines[i] = ec + " " + lines[i]
	}
	return strings.Join(lines, "\n")
}
