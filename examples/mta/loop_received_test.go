package main

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// traced is a message with n Received fields, each folded over three
// lines, names in odd case, and in its body more lines that look like
// Received fields (a forwarded message's header, say).
func traced(n int) string {
	var b strings.Builder
	names := []string{"Received", "RECEIVED", "received", "ReCeIvEd"}
	for i := 0; i < n; i++ {
		b.WriteString(names[i%len(names)] + ": from hop" + strings.Repeat("x", i) + ".test\r\n")
		b.WriteString("\tby next.test with ESMTP\r\n")
		b.WriteString(" id X; Mon, 23 Nov 2026 10:00:00 +0000\r\n")
	}
	b.WriteString("X-Received: not a trace field\r\nReceivedX: nor this\r\nSubject: loop\r\n\r\n")
	for i := 0; i < 40; i++ {
		b.WriteString("Received: in the body, not counted\r\n")
	}
	return b.String()
}

func TestReceivedCounter(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  string
		max  int
		bad  bool
	}{
		{"at the limit", traced(30), 30, false},
		{"one over", traced(31), 30, true},
		{"body lines only", "Subject: x\r\n\r\n" + strings.Repeat("Received: x\r\n", 50), 30, false},
		{"white space before the colon", strings.Repeat("Received \t: x\r\n", 3), 2, true},
		{"bare LF line ends", strings.Repeat("Received: x\n", 3) + "\n" + strings.Repeat("Received: x\n", 9), 3, false},
		{"bare LF over", strings.Repeat("Received: x\n", 4) + "\n", 3, true},
		{"no colon is no field", strings.Repeat("Received x\r\nReceived\r\n", 5), 1, false},
		{"continuation lines are not fields", "Received: a\r\n" + strings.Repeat(" Received: b\r\n\tReceived: c\r\n", 5), 1, false},
		{"no header end", strings.Repeat("Received: x\r\n", 2), 1, true},
		{"a CR alone at a line start", "\rReceived: x\r\nReceived: y\r\n", 1, false},
		{"empty message", "", 1, false},
		{"the empty line first", "\r\nReceived: x\r\nReceived: y\r\n", 1, false},
		{"a long field name that starts alike", strings.Repeat("Receivedddddddd: x\r\n", 5), 1, false},
		{"Received-SPF is another field", strings.Repeat("Received-SPF: pass\r\n", 5), 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tc.msg), iotest.OneByteReader(strings.NewReader(tc.msg))} {
				_, err := io.Copy(io.Discard, &receivedCounter{r: r, max: tc.max})
				if got := errors.Is(err, errTooManyReceived); got != tc.bad || (err != nil && !tc.bad) {
					t.Fatalf("refused=%v, err %v", got, err)
				}
			}
		})
	}
}

// A message with more than -max-received Received fields is refused at
// the end of its data with 554 5.4.6, plain and behind the front (-prdr,
// with and without PRDR requested); one at the limit is delivered, and so
// is one whose Received lines are in its body. Nothing of a refused
// message is kept.
func TestMaxReceivedRefusesAtEndOfData(t *testing.T) {
	for _, mode := range []string{"plain", "front", "prdr"} {
		t.Run(mode, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.MaxReceived = 30
			cfg.PRDR = mode != "plain"
			tm := startMTA(t, cfg)
			send := func(msg string, rcpts ...string) []smtptest.Reply { return sendIn(t, tm.addr, mode, msg, rcpts...) }
			reps := send(traced(31), "a@example.test", "b@example.test", "far@remote.test")
			for i, rep := range reps {
				if i == len(reps)-1 && len(reps) > 1 && rep.Code/100 == 5 {
					continue // the final reply after PRDR's: all refused
				}
				if rep.Code != 554 || !strings.HasPrefix(rep.Text(), "5.4.6") {
					t.Fatalf("31 Received fields: replies %v", reps)
				}
			}
			for _, mb := range []string{"a@example.test", "b@example.test"} {
				if n := len(tm.messages(t, mb, "new")) + len(tm.messages(t, mb, "tmp")); n != 0 {
					t.Fatalf("%s kept %d files of the refused message", mb, n)
				}
			}
			if ls := tm.logs.lines(`msg="message accepted"`); len(ls) != 0 {
				t.Fatalf("refused message logged as accepted: %q", ls)
			}
			if reps := send(traced(30), "a@example.test", "b@example.test"); reps[len(reps)-1].Code != 250 {
				t.Fatalf("30 Received fields: replies %v", reps)
			}
			only(t, tm.messages(t, "a@example.test", "new"))
		})
	}
}

// sendIn sends msg (dot-stuffed, without the final dot) to rcpts, all of
// which must be accepted at RCPT, and returns the replies after the data:
// one, or with mode "prdr" (PRDR requested) one per recipient and the
// final one.
func sendIn(t *testing.T, addr, mode, msg string, rcpts ...string) []smtptest.Reply {
	t.Helper()
	c := greet(t, addr)
	mail := "MAIL FROM:<s@x.test>"
	if mode == "prdr" {
		mail += " PRDR"
	}
	c.MustCmd(mail, 250)
	for _, r := range rcpts {
		c.MustCmd("RCPT TO:<"+r+">", 250)
	}
	c.MustCmd("DATA", 354)
	c.Write(msg + ".\r\n")
	var reps []smtptest.Reply
	rep := c.ReadReply()
	if rep.Code == 353 {
		// PRDR: a reply per recipient, then the final one.
		for range rcpts {
			reps = append(reps, c.ReadReply())
		}
		rep = c.ReadReply()
	}
	c.MustCmd("QUIT", 221)
	return append(reps, rep)
}

// A message whose header section is over -header-maxsize is refused at
// the end of its data with 552 5.3.4 (Exim's header_maxsize), with or
// without -dmarc, plain and behind the front; the line that crosses the
// limit may be folded or one long line. A message with a header at the
// limit and a large body is delivered.
func TestHeaderMaxsizeRefusesAtEndOfData(t *testing.T) {
	const max = 4096
	for _, mode := range []string{"plain", "front", "prdr"} {
		t.Run(mode, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.HeaderMax = max
			cfg.PRDR = mode != "plain"
			tm := startMTA(t, cfg)
			pad := "X-Pad: " + strings.Repeat("p", 90) + "\r\n" // 99 bytes
			big := strings.Repeat(pad, max/len(pad)+1) + "Subject: x\r\n\r\nbody\r\n"
			folded := "Subject: " + strings.Repeat("w\r\n ", max/4) + "\r\n\r\nbody\r\n"
			for name, msg := range map[string]string{"many fields": big, "one folded field": folded} {
				reps := sendIn(t, tm.addr, mode, msg, "a@example.test", "b@example.test")
				for i, rep := range reps {
					if i == len(reps)-1 && len(reps) > 1 && rep.Code/100 == 5 {
						continue // the final reply after PRDR's: all refused
					}
					if rep.Code != 552 || !strings.HasPrefix(rep.Text(), "5.3.4") {
						t.Fatalf("%s: replies %v", name, reps)
					}
				}
			}
			if n := len(tm.messages(t, "a@example.test", "new")); n != 0 {
				t.Fatalf("%d copies of refused messages delivered", n)
			}
			// The header section's size counts its empty line: exactly
			// max bytes in all.
			fit := strings.Repeat(pad, (max-2)/len(pad))
			fit += "X-Fill: " + strings.Repeat("f", max-2-len(fit)-len("X-Fill: \r\n")) + "\r\n\r\n"
			body := strings.Repeat("body line\r\n", 20000)
			if reps := sendIn(t, tm.addr, mode, fit+body, "a@example.test"); reps[len(reps)-1].Code != 250 {
				t.Fatalf("header of %d bytes: replies %v", len(fit), reps)
			}
			only(t, tm.messages(t, "a@example.test", "new"))
		})
	}
}

// countReceived is the plain reading of what receivedCounter counts: the
// lines before the first empty one (CRLF or LF ended) whose field name,
// before optional white space and a colon, is "Received" in any case.
func countReceived(msg string) int {
	n := 0
	for len(msg) > 0 {
		line, rest, _ := strings.Cut(msg, "\n")
		msg = rest
		if line == "" || line == "\r" {
			break
		}
		name, _, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimRight(name, " \t"), "received") {
			n++
		}
	}
	return n
}

// FuzzReceivedCounter compares the streaming count with countReceived,
// whatever the input and however it is cut into reads.
func FuzzReceivedCounter(f *testing.F) {
	f.Add(traced(3), uint8(1))
	f.Add("Received \t: x\r\nreceived:y\n\r\nReceived: z\r\n", uint8(3))
	f.Add("\rReceived: x\r\n Received: y\r\nReceived-SPF: pass\r\nReceived\r\n", uint8(7))
	f.Fuzz(func(t *testing.T, msg string, chunk uint8) {
		want := countReceived(msg)
		for _, max := range []int{want, want - 1} {
			var r io.Reader = strings.NewReader(msg)
			if chunk > 0 {
				r = &chunkReader{s: msg, n: int(chunk)}
			}
			rc := &receivedCounter{r: r, max: max}
			_, err := io.Copy(io.Discard, rc)
			if refused := errors.Is(err, errTooManyReceived); refused != (want > max) {
				t.Fatalf("max %d: refused=%v, %d fields by the plain count", max, refused, want)
			}
			if err == nil && rc.n != want {
				t.Fatalf("counted %d, the plain count %d", rc.n, want)
			}
		}
	})
}

// chunkReader reads s in pieces of at most n bytes.
type chunkReader struct {
	s string
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.s == "" {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.s)
	c.s = c.s[k:]
	return k, nil
}
