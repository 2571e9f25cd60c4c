package front_test

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/front"
	"github.com/smtpkit/smtpkit/internal/fronttest"
	"github.com/smtpkit/smtpkit/internal/smtptest"
	"github.com/smtpkit/smtpkit/prdr"
)

// converse greets addr, sends each command of setup and reads its reply,
// then writes payload (from another goroutine: it may be larger than
// the socket buffers) and reads replies until the connection ends or
// nothing comes for wait. It returns the replies after the greeting and
// the EHLO reply (where the front and go-smtp differ by design), each as
// its last line, and how it ended: "closed" or "silent".
func converse(t *testing.T, addr string, setup []string, payload string, wait time.Duration) ([]string, string) {
	t.Helper()
	c := smtptest.Dial(t, addr)
	c.Timeout = wait
	c.Expect(220)
	var got []string
	for i, cmd := range setup {
		rep := c.Cmd(cmd)
		if rep.Err != nil {
			t.Fatalf("%s: %v", cmd, rep.Err)
		}
		if i > 0 || !strings.HasPrefix(cmd, "EHLO") {
			got = append(got, rep.String())
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.Conn().SetWriteDeadline(time.Now().Add(wait))
		c.Conn().Write([]byte(payload)) // fails once the server closes
	}()
	defer wg.Wait()
	defer c.Close()
	for {
		rep := c.ReadReply()
		var ne net.Error
		switch {
		case rep.Err == nil:
			got = append(got, lastLine(rep))
		case errors.As(rep.Err, &ne) && ne.Timeout():
			return got, "silent"
		default:
			return got, "closed"
		}
	}
}

func lastLine(rep smtptest.Reply) string {
	return smtptest.Reply{Code: rep.Code, Lines: rep.Lines[len(rep.Lines)-1:]}.String()
}

// same runs one conversation with go-smtp alone and one with the same
// go-smtp server behind a front: the client must get the same replies,
// by code and enhanced code, and the same end.
func same(t *testing.T, opts *front.Options, setup []string, payload string) []string {
	t.Helper()
	plain := fronttest.Plain(t, &fronttest.Backend{})
	want, wantEnd := converse(t, plain, setup, payload, 2*time.Second)
	srv := fronttest.Start(t, &fronttest.Backend{}, opts)
	got, gotEnd := converse(t, srv.Addr, setup, payload, 2*time.Second)
	if classes(got) != classes(want) || gotEnd != wantEnd {
		t.Errorf("behind the front:\n%s\n(%s)\ngo-smtp alone:\n%s\n(%s)",
			strings.Join(got, "\n"), gotEnd, strings.Join(want, "\n"), wantEnd)
	}
	return got
}

// classes are the code and enhanced code of each reply.
func classes(replies []string) string {
	var out []string
	for _, r := range replies {
		f := strings.Fields(r)
		if len(f) > 1 && strings.Count(f[1], ".") == 2 {
			f = f[:2]
		} else {
			f = f[:1]
		}
		out = append(out, strings.Join(f, " "))
	}
	return strings.Join(out, "\n")
}

var envelope = []string{"EHLO c.test", "MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>"}

// TestBDATOutsideTransaction: RFC 3030 section 2 says the chunk follows
// BDAT whatever the reply; go-smtp refuses BDAT without a recipient at
// once and reads the chunk. Behind the front the reply must come at once
// too, the same, and the chunk must not be taken for commands.
func TestBDATOutsideTransaction(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   []string
		payload string
	}{
		{"no MAIL", []string{"EHLO c.test"}, "BDAT 3 LAST\r\nabc"},
		{"no RCPT", []string{"EHLO c.test", "MAIL FROM:<a@x.test>"}, "BDAT 3 LAST\r\nabc"},
		{"refused RCPT", []string{"EHLO c.test", "MAIL FROM:<a@x.test>", "RCPT TO:<badrcpt@y.test>"}, "BDAT 3 LAST\r\nabc"},
		{"after RSET", []string{"EHLO c.test", "MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>", "RSET"}, "BDAT 3 LAST\r\nabc"},
		{"pipelined chunks", []string{"EHLO c.test"}, "BDAT 3\r\nabcbdat 0\r\nBDAT 6 last\r\nxyz\r\n\r\nNOOP\r\n"},
		{"commands in the chunk", []string{"EHLO c.test"}, "BDAT 22 LAST\r\nQUIT\r\nRSET\r\nQUIT\r\nxyNOOP\r\n"},
		{"empty chunk", []string{"EHLO c.test"}, "BDAT 0 LAST\r\nNOOP\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := same(t, nil, tc.setup, tc.payload+"NOOP\r\nQUIT\r\n")
			if len(got) < 2 || !strings.HasPrefix(got[len(got)-2], "250 ") {
				t.Errorf("the chunk was not read as a chunk: %q", got)
			}
		})
	}
}

// TestDataLineTooLong: go-smtp refuses a DATA line longer than its
// MaxLineLength, CRLF included: the session's reader fails, the client
// gets the session's reply, then 500 5.4.0, and the connection closes.
// Behind the front the same, at the same length, and the rest of the
// line is never read.
func TestDataLineTooLong(t *testing.T) {
	data := []string{"EHLO c.test", "MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>", "DATA"}
	limit := smtp.NewServer(nil).MaxLineLength
	for _, tc := range []struct {
		name    string
		payload string
		refused bool
	}{
		{"at the limit", "ok\r\n" + strings.Repeat("x", limit-2) + "\r\n.\r\nQUIT\r\n", false},
		{"one over", "ok\r\n" + strings.Repeat("x", limit-1) + "\r\n.\r\n", true},
		{"first line", strings.Repeat("x", limit) + "\r\n.\r\n", true},
		{"bare LF ends a line", strings.Repeat(strings.Repeat("x", limit-2)+"\n", 3) + "\r\n.\r\nQUIT\r\n", false},
		{"CR does not", strings.Repeat(strings.Repeat("x", limit/2)+"\r", 3) + "\n.\r\n", true},
		{"dot-stuffed", "." + strings.Repeat(".", limit) + "\r\n.\r\n", true},
		{"3 KB", "ok\r\n" + strings.Repeat("y", 3000) + "\r\n.\r\nNOOP\r\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := same(t, nil, data, tc.payload)
			refused := strings.Contains(strings.Join(got, "\n"), "500 5.4.0")
			if refused != tc.refused {
				t.Errorf("refused %v, want %v: %q", refused, tc.refused, got)
			}
		})
	}
	t.Run("BDAT has no line limit", func(t *testing.T) {
		// RFC 3030 section 2, and go-smtp lifts its limit for chunks
		// (though its read-ahead applies it to a chunk's start, when
		// that comes in one segment with the command).
		srv := fronttest.Start(t, &fronttest.Backend{}, nil)
		chunk := strings.Repeat("z", 3*limit) + "\r\n"
		got, _ := converse(t, srv.Addr, envelope, fmt.Sprintf("BDAT %d LAST\r\n%sQUIT\r\n", len(chunk), chunk), 2*time.Second)
		if len(got) != 4 || !strings.HasPrefix(got[2], "250 ") {
			t.Errorf("BDAT chunk: %q", got)
		}
	})
	t.Run("PRDR", func(t *testing.T) {
		// Refused for all: one reply, as without PRDR.
		srv := fronttest.Start(t, &fronttest.Backend{}, &front.Options{Extensions: []front.Extension{prdr.Server{}}})
		got, end := converse(t, srv.Addr, []string{"EHLO c.test", "MAIL FROM:<a@x.test> PRDR", "RCPT TO:<b@y.test>", "RCPT TO:<c@y.test>", "DATA"},
			strings.Repeat("x", 3000)+"\r\n.\r\n", 2*time.Second)
		if end != "closed" || len(got) != 6 || !strings.HasPrefix(got[4], "554 ") || !strings.HasPrefix(got[5], "500 5.4.0") {
			t.Errorf("%q (%s)", got, end)
		}
	})
	t.Run("option", func(t *testing.T) {
		srv := fronttest.Start(t, &fronttest.Backend{}, &front.Options{Limits: front.Limits{DataLineLength: 100}})
		got, _ := converse(t, srv.Addr, data, strings.Repeat("x", 98)+"\r\n"+strings.Repeat("x", 99)+"\r\n.\r\n", 2*time.Second)
		if len(got) != 5 || !strings.HasPrefix(got[4], "500 5.4.0") {
			t.Errorf("%q", got)
		}
	})
}

// TestDataLineTooLongMemory: a 5 MB line is refused after the limit; the
// front neither reads nor keeps the rest.
func TestDataLineTooLongMemory(t *testing.T) {
	be := &fronttest.Backend{}
	srv := fronttest.Start(t, be, nil)
	payload := []byte("Subject: x\r\n\r\n" + strings.Repeat("y", 5<<20) + "\r\n.\r\n")
	c := greet(t, srv.Addr)
	for _, cmd := range append(envelope, "DATA") {
		c.Cmd(cmd)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	go func() {
		c.Conn().SetWriteDeadline(time.Now().Add(slack))
		c.Conn().Write(payload)
	}()
	if rep := c.ReadReply(); rep.Code != 554 {
		t.Errorf("end of data: %v", rep)
	}
	if rep := c.ReadReply(); rep.Code != 500 {
		t.Errorf("then: %v", rep)
	}
	runtime.ReadMemStats(&after)
	if rep := c.ReadReply(); rep.Err == nil {
		t.Errorf("not closed: %v", rep)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("%d bytes allocated while refusing the line", n)
	}
	if m := be.Messages(); len(m) != 0 {
		t.Errorf("delivered %d copies", len(m))
	}
}

// trickle writes p one byte every gap until the server closes the
// connection or stop is closed.
func trickle(c net.Conn, p string, gap time.Duration, stop chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-time.After(gap):
		}
		c.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := c.Write([]byte{p[i%len(p)]}); err != nil {
			return
		}
	}
}

// cut reads replies until the connection closes and returns the last;
// it fails the test when that takes longer than within.
func cut(t *testing.T, c *smtptest.Client, within time.Duration) smtptest.Reply {
	t.Helper()
	start := time.Now()
	c.Timeout = within
	var last smtptest.Reply
	for {
		rep := c.ReadReply()
		if rep.Err != nil {
			var ne net.Error
			if errors.As(rep.Err, &ne) && ne.Timeout() {
				t.Fatalf("not cut after %v (last reply %v)", time.Since(start), last)
			}
			return last
		}
		last = rep
	}
}

// TestTrickle: a client that sends a line one byte at a time, each byte
// well within the timeout, is cut once the line took longer than the
// timeout (RFC 5321 section 4.5.3.2: the timeouts bound a command, not a
// read); a message sent line by line is cut at the message deadline.
func TestTrickle(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := fronttest.Start(t, &fronttest.Backend{}, &front.Options{
		Timeouts: front.Timeouts{Command: timeout, Data: timeout, Message: 3 * timeout},
	})
	for _, tc := range []struct {
		name   string
		setup  []string
		prefix string
		drip   string
		gap    time.Duration // between bytes; default 30 ms
	}{
		{"command", nil, "", "NOOP", 0},
		{"command after EHLO", []string{"EHLO c.test"}, "", "MAIL FROM:<a@x.test>", 0},
		{"DATA line", append(envelope, "DATA"), "", "x", 0},
		{"DATA lines", append(envelope, "DATA"), "", "xy\r\n", 0},
		{"BDAT chunk", envelope, "BDAT 100000\r\n", "x", 0},
		// Each command well within the command timeout, the chunks
		// of one message not.
		{"BDAT commands", envelope, "", "BDAT 1\r\nx", 5 * time.Millisecond},
		{"BDAT refused chunk", []string{"EHLO c.test"}, "BDAT 100000\r\n", "x", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := greet(t, srv.Addr)
			for _, cmd := range tc.setup {
				if rep := c.Cmd(cmd); rep.Err != nil || rep.Code >= 400 {
					t.Fatalf("%s: %v", cmd, rep)
				}
			}
			c.Write(tc.prefix)
			stop := make(chan struct{})
			done := make(chan struct{})
			gap := cmp.Or(tc.gap, 30*time.Millisecond)
			go func() { trickle(c.Conn(), tc.drip, gap, stop); close(done) }()
			defer func() { close(stop); <-done }()
			if rep := cut(t, c, 3*timeout+slack); rep.Code != 421 || !strings.HasPrefix(rep.Text(), "4.4.2 ") {
				t.Errorf("last reply %v, want 421 4.4.2", rep)
			}
		})
	}
	t.Run("slow but steady", func(t *testing.T) {
		// Lines each within the data timeout, the message longer than it.
		srv := fronttest.Start(t, &fronttest.Backend{}, &front.Options{Timeouts: front.Timeouts{Data: 400 * time.Millisecond}})
		c := greet(t, srv.Addr)
		for _, cmd := range append(envelope, "DATA") {
			c.Cmd(cmd)
		}
		for i := 0; i < 15; i++ {
			c.Write("line\r\n")
			time.Sleep(40 * time.Millisecond)
		}
		c.Write(".\r\n")
		c.Expect(250)
	})
}

// TestProtocolErrors: lines that are no command (an empty line, an
// unknown verb, no verb) count as go-smtp counts them: past three, the
// connection is closed, behind the front as without it, and the front
// and go-smtp stay in step.
func TestProtocolErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload string
	}{
		{"four", "\r\nFOO\r\nXCLIENT ADDR=1.2.3.4\r\nWXYZ\r\nNOOP\r\n"},
		{"three", "\r\n \r\nnoop\tx\r\nNOOP\r\nQUIT\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) { same(t, nil, []string{"EHLO c.test"}, tc.payload) })
	}
	t.Run("commands without arguments", func(t *testing.T) {
		// The front rebuilds each line, so that go-smtp does not count
		// "MAIL " or an argument-less LHLO as a protocol error.
		srv := fronttest.Start(t, &fronttest.Backend{}, nil)
		got, end := converse(t, srv.Addr, []string{"EHLO c.test"},
			"MAIL\r\nMAIL \r\nEHLO\r\nEHLO \r\nRCPT \r\nNOOP   \r\nQUIT\r\n", 2*time.Second)
		if end != "closed" || len(got) != 7 || !strings.HasPrefix(got[5], "250 ") || !strings.HasPrefix(got[6], "221 ") {
			t.Errorf("%q (%s)", got, end)
		}
	})
	t.Run("option", func(t *testing.T) {
		srv := fronttest.Start(t, &fronttest.Backend{}, &front.Options{Limits: front.Limits{ProtocolErrors: 1}})
		got, end := converse(t, srv.Addr, nil, "FOO\r\nBAR\r\nNOOP\r\n", 2*time.Second)
		if end != "closed" || len(got) != 3 || !strings.HasPrefix(got[2], "500 5.5.1") {
			t.Errorf("%q (%s)", got, end)
		}
	})
}

// TestInnerReadTimeout: a ReadTimeout set on the inner server does not
// cut a client that the front's own timeouts still allow: go-smtp would
// write its 421 into the pipe while the front waits for the client.
func TestInnerReadTimeout(t *testing.T) {
	srv := fronttest.Start(t, &fronttest.Backend{}, nil, func(s *smtp.Server) { s.ReadTimeout = 50 * time.Millisecond })
	c := greet(t, srv.Addr)
	c.Timeout = slack
	c.MustCmd("EHLO c.test", 250)
	time.Sleep(200 * time.Millisecond)
	c.MustCmd("NOOP", 250)
	c.MustCmd("QUIT", 221)
}

// slowBackend's sessions take their time before they read a message.
type slowBackend struct{ delay time.Duration }

func (b slowBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return slowSession(b), nil }

type slowSession struct{ delay time.Duration }

func (slowSession) Reset()                               {}
func (slowSession) Logout() error                        { return nil }
func (slowSession) Mail(string, *smtp.MailOptions) error { return nil }
func (slowSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s slowSession) Data(r io.Reader) error {
	time.Sleep(s.delay)
	_, err := io.Copy(io.Discard, r)
	return err
}

// TestDataTimeoutSlowBackend: the data timeout is the client's: time the
// front spends waiting for a slow session to take the data does not
// count against a client that sent it all at once.
func TestDataTimeoutSlowBackend(t *testing.T) {
	const timeout = 200 * time.Millisecond
	srv := fronttest.Start(t, slowBackend{3 * timeout}, &front.Options{Timeouts: front.Timeouts{Data: timeout}})
	c := greet(t, srv.Addr)
	c.Timeout = slack
	for _, cmd := range append(envelope, "DATA") {
		c.Cmd(cmd)
	}
	c.Write(strings.Repeat("a line of the message\r\n", 5000) + ".\r\n")
	c.Expect(250)
}
