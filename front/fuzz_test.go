package front

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

func FuzzSplitMailArg(f *testing.F) {
	for _, s := range []string{"<a@x.test> BODY=8BITMIME PRDR", `<"a b>"@x.test> SIZE=10`, "<>", "a@x.test PRDR", "<unterminated", `<"\>"@x>`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		path, params, ok := splitMailArg(arg)
		if !ok {
			return
		}
		if !strings.HasPrefix(strings.TrimLeft(arg, " "), path) {
			t.Fatalf("path %q is not a prefix of %q", path, arg)
		}
		for _, p := range params {
			if p == "" || strings.ContainsAny(p, " ") {
				t.Fatalf("bad parameter %q", p)
			}
		}
	})
}

// refScan is the model dataScanner must follow: go-smtp's reader, one
// byte at a time. Its line limit counts the octets after each LF and
// fails at the one that reaches limit; its state machine ends the data
// at "CRLF.CRLF", a line beginning only after CR LF.
func refScan(data []byte, limit int) (int, scanResult) {
	state, cur := scanLineStart, 0
	for i, b := range data {
		if b == '\n' {
			cur = 0
		} else if cur++; limit > 0 && cur >= limit {
			return i, scanTooLong
		}
		switch {
		case state == scanLineStart && b == '.':
			state = scanDot
		case (state == scanLineStart || state == scanText) && b == '\r':
			state = scanCR
		case state == scanDot && b == '\r':
			state = scanDotCR
		case state == scanDotCR && b == '\n':
			return i + 1, scanFound
		case state == scanCR && b == '\n':
			state = scanLineStart
		default:
			state = scanText
		}
	}
	return len(data), scanMore
}

// FuzzDataScanner: the scanner finds the end of the data and an
// over-long line where go-smtp's reader does, however the input is split
// into reads.
func FuzzDataScanner(f *testing.F) {
	f.Add([]byte("a\r\n.\r\nQUIT\r\n"), 3, 0)
	f.Add([]byte(".\r\n"), 1, 0)
	f.Add([]byte("\r\r\n.\r\nx\r\n.\r\n"), 2, 0)
	f.Add([]byte("abcdef\r\n.\r\n"), 2, 8)
	f.Add([]byte("abcdefg\r\n.\r\n"), 3, 8)
	f.Add([]byte("ab\ncd\r\n.\r\n"), 1, 4)
	f.Fuzz(func(t *testing.T, data []byte, split, limit int) {
		limit %= 64
		if limit < 0 {
			limit = -limit
		}
		wantN, want := refScan(data, limit)
		if split <= 0 {
			split = 1
		}
		parts := dataScanner{limit: limit}
		n, res := 0, scanMore
		for off := 0; off < len(data) && res == scanMore; off += split {
			chunk := data[off:min(off+split, len(data))]
			k, r := parts.scan(chunk)
			if r == scanMore && k != len(chunk) {
				t.Fatalf("scanMore after %d of %d bytes", k, len(chunk))
			}
			n += k
			res = r
		}
		if n != wantN || res != want {
			t.Fatalf("limit %d, split by %d: %d %v, want %d %v", limit, split, n, res, wantN, want)
		}
	})
}

// fuzzExt exercises the extension hooks in FuzzSession: a keyword, a
// MAIL parameter XFUZZ (refused with the value "bad") and, when it was
// given, PRDR-like replies after the data.
type fuzzExt struct{}

func (fuzzExt) Name() string                             { return "fuzz" }
func (fuzzExt) Advertise(_ *Conn, kws []string) []string { return append(kws, "XFUZZ") }
func (fuzzExt) ClaimsMailParam(kw string) bool           { return kw == "XFUZZ" }
func (fuzzExt) EarlyInput(*Conn) (Early, time.Duration)  { return EarlyAllow, time.Millisecond }
func (fuzzExt) MailParam(_ *Conn, _, v string) (string, error) {
	if v == "bad" {
		return "", errors.New("bad XFUZZ")
	}
	return "XFUZZ requested", nil
}

func (fuzzExt) DataReplies(c *Conn, rcpts []RcptStatus) []*smtp.SMTPError {
	if _, ok := c.MailParam("XFUZZ"); !ok {
		return nil
	}
	out := []*smtp.SMTPError{{Code: 353, EnhancedCode: smtp.NoEnhancedCode, Message: "per recipient"}}
	for _, r := range rcpts {
		out = append(out, r.Reply)
	}
	return append(out, &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "done"})
}

// Bounds of the session FuzzSession runs: small, so that short inputs
// reach them.
var fuzzOpts = Options{
	Extensions: []Extension{fuzzExt{}},
	Limits:     Limits{LineLength: 80, DataLineLength: 80, NonMailCommands: 30, AuthLines: 3},
	Timeouts:   Timeouts{Command: 50 * time.Millisecond, Data: 50 * time.Millisecond, Message: 200 * time.Millisecond, Backend: time.Second},
}

// fuzzEnd bounds how long a session may take after the client's last
// byte: the longest timeout that can still be running, and a lot of
// slack for a loaded machine.
const fuzzEnd = 5 * time.Second

// FuzzSession feeds arbitrary client input to a front, then QUIT, and
// reads everything it answers. The oracle: the session ends by itself
// within fuzzEnd of the last byte (QUIT is answered, or a timeout or
// limit ends it with a reply); the output is whole replies (RFC 5321
// section 4.2: "ddd", "-" or " ", text, CRLF; one code per multi-line
// reply) of classes 2 to 5, the last a closing one (221, 421, 500, 554);
// the front and go-smtp never fall out of step (no "4.3.0 Local error",
// the front's answer when an exchange with go-smtp fails, and no
// "4.0.0 Internal server error", go-smtp's after a panic); nothing
// panics.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"EHLO c\r\nMAIL FROM:<a@x> XFUZZ\r\nRCPT TO:<b@y>\r\nRCPT TO:<c@y>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n",
		"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nBDAT 3 LAST\r\nabcQUIT\r\n",
		"HELO c\r\nAUTH PLAIN\r\n*\r\nSTARTTLS\r\nRSET\r\nVRFY x\r\n",
		"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nBDAT 99999999999\r\nBDAT x LAST\r\n",
		"BDAT 3 LAST\r\nabcNOOP\r\n",
		"EHLO c\r\nMAIL FROM:<a@x>\r\nBDAT 2\r\nxyBDAT 1 LAST\r\nz",
		"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n" + strings.Repeat("x", 100) + "\r\n.\r\n",
		"EHLO c\r\nMAIL FROM:<a@x> XFUZZ=bad\r\nMAIL FROM:<a@x> XFUZZ XFUZZ\r\n",
		"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nBDAT 5000\r\nxyz",
		"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nno end",
		"NOOP " + strings.Repeat("y", 100),
	} {
		f.Add([]byte(s))
	}
	inner := smtp.NewServer(&smtptest.Sink{})
	inner.Domain = "mx.test"
	inner.ErrorLog = nopLog{}
	inner.MaxMessageBytes = 1 << 12
	s := New(inner, &fuzzOpts)
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, input []byte) {
		a, b := net.Pipe()
		defer a.Close()
		done := make(chan struct{})
		go func() {
			s.ServeConn(context.Background(), b)
			close(done)
		}()
		out := make(chan []byte, 1)
		go func() {
			all, _ := io.ReadAll(a)
			out <- all
		}()
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			a.SetWriteDeadline(time.Now().Add(fuzzEnd))
			if _, err := a.Write(input); err == nil {
				a.Write([]byte("\r\nQUIT\r\n"))
			}
		}()
		select {
		case <-done:
		case <-time.After(2 * fuzzEnd):
			t.Fatal("session did not end")
		}
		a.Close()
		<-wrote
		if err := checkReplies(<-out); err != nil {
			t.Fatal(err)
		}
	})
}

// checkReplies is FuzzSession's oracle on what the front wrote.
func checkReplies(p []byte) error {
	if len(p) == 0 {
		return errors.New("no reply at all")
	}
	if !bytes.HasSuffix(p, []byte("\r\n")) {
		return fmt.Errorf("output ends inside a line: %q", p[max(0, len(p)-80):])
	}
	code, last := 0, ""
	for _, line := range strings.Split(strings.TrimSuffix(string(p), "\r\n"), "\r\n") {
		if len(line) < 4 || (line[3] != ' ' && line[3] != '-') {
			return fmt.Errorf("bad reply line %q", line)
		}
		n, err := strconv.Atoi(line[:3])
		if err != nil || n < 200 || n > 599 {
			return fmt.Errorf("bad reply code in %q", line)
		}
		if code != 0 && n != code {
			return fmt.Errorf("code changes within a reply at %q", line)
		}
		if strings.Contains(line, "Local error") || strings.Contains(line, "Internal server error") {
			return fmt.Errorf("front and go-smtp out of step: %q", line)
		}
		code = n
		if line[3] == ' ' {
			code, last = 0, line
		}
	}
	if code != 0 {
		return fmt.Errorf("last reply unfinished")
	}
	switch last[:3] {
	case "221", "421", "500", "554":
		return nil
	}
	return fmt.Errorf("the session ended after %q", last)
}

type nopLog struct{}

func (nopLog) Printf(string, ...any) {}
func (nopLog) Println(...any)        {}
