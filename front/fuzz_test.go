package front

import (
	"context"
	"io"
	"net"
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

// FuzzSession feeds arbitrary client input to a front: it must answer or
// close, never hang or panic.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"EHLO c\r\nMAIL FROM:<a@x> PRDR\r\nRCPT TO:<b@y>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n",
		"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nBDAT 3 LAST\r\nabcQUIT\r\n",
		"HELO c\r\nAUTH PLAIN\r\n*\r\nSTARTTLS\r\nRSET\r\nVRFY x\r\n",
		"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nBDAT 99999999999\r\nBDAT x LAST\r\n",
	} {
		f.Add([]byte(s))
	}
	inner := smtp.NewServer(&smtptest.Sink{})
	inner.Domain = "mx.test"
	inner.ErrorLog = nopLog{}
	inner.MaxMessageBytes = 1 << 16
	s := New(inner, &Options{Timeouts: Timeouts{Command: time.Second, Data: time.Second}})
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, input []byte) {
		a, b := net.Pipe()
		done := make(chan struct{})
		go func() {
			s.ServeConn(context.Background(), b)
			close(done)
		}()
		go io.Copy(io.Discard, a)
		a.SetWriteDeadline(time.Now().Add(2 * time.Second))
		a.Write(input)
		a.Write([]byte("\r\nQUIT\r\n"))
		a.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("session did not end")
		}
	})
}

type nopLog struct{}

func (nopLog) Printf(string, ...any) {}
func (nopLog) Println(...any)        {}
