package front

import (
	"bytes"
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

// FuzzDataScanner: the end of the data is found at the same place however
// the input is split into reads.
func FuzzDataScanner(f *testing.F) {
	f.Add([]byte("a\r\n.\r\nQUIT\r\n"), 3)
	f.Add([]byte(".\r\n"), 1)
	f.Add([]byte("\r\r\n.\r\nx\r\n.\r\n"), 2)
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		var whole dataScanner
		n1, end1 := whole.scan(data)
		if split <= 0 {
			split = 1
		}
		var parts dataScanner
		n2, end2 := 0, false
		for off := 0; off < len(data) && !end2; off += split {
			chunk := data[off:min(off+split, len(data))]
			k, e := parts.scan(chunk)
			n2 += k
			end2 = e
		}
		if n1 != n2 || end1 != end2 {
			t.Fatalf("whole: %d %v, split by %d: %d %v", n1, end1, split, n2, end2)
		}
		if end1 && !bytes.HasSuffix(data[:n1], []byte(".\r\n")) {
			t.Fatalf("end at %d without .CRLF", n1)
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
