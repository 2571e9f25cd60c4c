package client

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"
)

// errProtocol marks replies that do not follow RFC 5321 section 4.2: the
// connection is out of step and cannot be used any more.
var errProtocol = errors.New("client: protocol error")

// reply is one SMTP reply as received (RFC 5321 section 4.2): the code and
// the text of each line, without the code and the separator.
type reply struct {
	code  int
	lines []string
}

// text is the reply's lines joined by "\n".
func (r reply) text() string { return strings.Join(r.lines, "\n") }

// class is the first digit of the code: 2 positive, 3 intermediate, 4
// transient negative, 5 permanent negative (RFC 5321 section 4.2.1).
func (r reply) class() int { return r.code / 100 }

// wire renders the reply as a server would send it.
func (r reply) wire() []byte {
	var b bytes.Buffer
	lines := r.lines
	if len(lines) == 0 {
		lines = []string{""}
	}
	for i, l := range lines {
		b.WriteString(strconv.Itoa(r.code))
		switch {
		case i < len(lines)-1:
			b.WriteByte('-')
		case l != "":
			b.WriteByte(' ')
		}
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// smtpError converts the reply. With enhanced set, an RFC 3463 enhanced
// status code at the start of the text is parsed into EnhancedCode and
// removed from every line that carries it; RFC 2034 section 3 wants it on
// every line, go-smtp puts it on the last only, so both are looked at.
// Greetings and EHLO/HELO replies carry no enhanced code (RFC 2034 section
// 3): pass false for those.
func (r reply) smtpError(enhanced bool) *smtp.SMTPError {
	e := &smtp.SMTPError{Code: r.code, EnhancedCode: smtp.NoEnhancedCode}
	if !enhanced || len(r.lines) == 0 {
		e.Message = r.text()
		return e
	}
	ec, prefix, ok := parseEnhanced(r.code, r.lines[0])
	if !ok {
		ec, prefix, ok = parseEnhanced(r.code, r.lines[len(r.lines)-1])
	}
	if !ok {
		e.Message = r.text()
		return e
	}
	e.EnhancedCode = ec
	var b strings.Builder
	for i, l := range r.lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		if rest, found := strings.CutPrefix(l, prefix); found && (rest == "" || rest[0] == ' ') {
			l = strings.TrimPrefix(rest, " ")
		}
		b.WriteString(l)
	}
	e.Message = b.String()
	return e
}

// parseEnhanced reads "class.subject.detail" at the start of s (RFC 3463
// section 2): class is 2, 4 or 5 and must match the reply code's first
// digit; subject and detail are 1 to 3 digits. The code must be followed by
// a space or end the text. It returns the code and its textual form.
func parseEnhanced(code int, s string) (smtp.EnhancedCode, string, bool) {
	var ec smtp.EnhancedCode
	class := code / 100
	if class != 2 && class != 4 && class != 5 {
		return ec, "", false
	}
	i := 0
	for part := 0; part < 3; part++ {
		start := i
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' && i-start < 3 {
			n = n*10 + int(s[i]-'0')
			i++
		}
		if i == start || (part == 0 && i-start != 1) {
			return ec, "", false
		}
		ec[part] = n
		if part < 2 {
			if i >= len(s) || s[i] != '.' {
				return ec, "", false
			}
			i++
		}
	}
	if i < len(s) && s[i] != ' ' {
		return ec, "", false
	}
	if ec[0] != class {
		return ec, "", false
	}
	return ec, s[:i], true
}

// readReply reads one possibly multi-line reply (RFC 5321 section 4.2.1):
// every line starts with the same three-digit code, followed by "-" on all
// but the last line and by a space (or nothing) on the last. Lines may end
// in CRLF or a bare LF. A reply of more than maxLines lines, a line longer
// than maxLen bytes, a code outside 200-559, differing codes on the lines of
// one reply, or anything else malformed is an error wrapping errProtocol; a
// connection closed in the middle of a reply gives io.ErrUnexpectedEOF, and
// before it io.EOF.
func readReply(br *bufio.Reader, maxLines, maxLen int) (reply, error) {
	var r reply
	for n := 0; ; n++ {
		line, err := readLine(br, maxLen)
		if err != nil {
			if n > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return reply{}, err
		}
		code, more, text, err := parseReplyLine(line)
		if err != nil {
			return reply{}, err
		}
		if n == 0 {
			r.code = code
		} else if code != r.code {
			return reply{}, fmt.Errorf("%w: reply line %q continues a %d reply with another code", errProtocol, clip(line), r.code)
		}
		if n >= maxLines {
			return reply{}, fmt.Errorf("%w: reply longer than %d lines", errProtocol, maxLines)
		}
		r.lines = append(r.lines, text)
		if !more {
			return r, nil
		}
	}
}

// parseReplyLine splits one reply line (without its line end).
func parseReplyLine(line []byte) (code int, more bool, text string, err error) {
	if len(line) < 3 {
		return 0, false, "", fmt.Errorf("%w: short reply line %q", errProtocol, clip(line))
	}
	// RFC 5321 section 4.2: first digit 2-5, second 0-5, third 0-9.
	d0, d1, d2 := line[0], line[1], line[2]
	if d0 < '2' || d0 > '5' || d1 < '0' || d1 > '5' || d2 < '0' || d2 > '9' {
		return 0, false, "", fmt.Errorf("%w: bad reply line %q", errProtocol, clip(line))
	}
	code = int(d0-'0')*100 + int(d1-'0')*10 + int(d2-'0')
	if len(line) == 3 {
		return code, false, "", nil
	}
	switch line[3] {
	case '-':
		more = true
	case ' ':
	default:
		return 0, false, "", fmt.Errorf("%w: bad reply line %q", errProtocol, clip(line))
	}
	return code, more, string(line[4:]), nil
}

// readLine reads a line of at most maxLen bytes, not counting its CRLF or
// LF, which is removed.
func readLine(br *bufio.Reader, maxLen int) ([]byte, error) {
	var long []byte
	for {
		frag, err := br.ReadSlice('\n')
		if err == nil {
			line := frag
			if long != nil {
				line = append(long, frag...)
			}
			line = line[:len(line)-1]
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			if len(line) > maxLen {
				return nil, fmt.Errorf("%w: reply line longer than %d bytes", errProtocol, maxLen)
			}
			return line, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if len(long)+len(frag) > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		long = append(long, frag...)
		if len(long) > maxLen+1 {
			return nil, fmt.Errorf("%w: reply line longer than %d bytes", errProtocol, maxLen)
		}
	}
}

// clip shortens untrusted text quoted in an error.
func clip(b []byte) string {
	const max = 64
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}
