package main

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// trickle writes s one byte at a time, every gap, until done or a write
// fails; it reports on the returned channel whether it wrote everything.
func trickle(conn net.Conn, s string, gap time.Duration, done <-chan struct{}) <-chan bool {
	all := make(chan bool, 1)
	go func() {
		for i := 0; i < len(s); i++ {
			select {
			case <-done:
				all <- false
				return
			case <-time.After(gap):
			}
			conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := conn.Write([]byte{s[i]}); err != nil {
				all <- false
				return
			}
		}
		all <- true
	}()
	return all
}

// RFC 5321 section 4.5.3.2.7: the server's timeout is for a command, not
// for each read. A client that sends its command line a byte at a time,
// never silent for the idle timeout, is cut once the line has taken the
// idle timeout, in both modes.
func TestListenTrickledCommandLineIsCut(t *testing.T) {
	for _, prdr := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "prdr"}[prdr], func(t *testing.T) {
			cfg := testConfig(t)
			cfg.PRDR = prdr
			cfg.IdleTimeout = 500 * time.Millisecond
			tm := startMTA(t, cfg)
			c := greet(t, tm.addr)
			done := make(chan struct{})
			defer close(done)
			// 100 bytes, 100ms apart: ten seconds for one line.
			all := trickle(c.Conn(), "NOOP "+strings.Repeat("x", 93)+"\r\n", 100*time.Millisecond, done)
			// The server may answer what it got of the line; it must
			// then say 421 and close, before the line is complete.
			var codes []int
			for {
				rep := c.ReadReply()
				if rep.Err != nil {
					break
				}
				codes = append(codes, rep.Code)
			}
			if whole := <-all; whole {
				t.Fatalf("the whole line went in before the cut; replies %v", codes)
			}
			if len(codes) == 0 || codes[len(codes)-1] != 421 {
				t.Fatalf("no 421 before the close: replies %v", codes)
			}
		})
	}
}

// The data phase has its bound too, in both modes: each read waits at
// most the idle timeout, and the whole message at most -data-timeout
// from the 354 (for BDAT, from the first chunk). A steady message that
// takes longer than the idle timeout still goes in; one trickled past -data-timeout gets 421 4.4.2 and the
// connection is closed, with nothing stored.
func TestListenTrickledDataIsCut(t *testing.T) {
	t.Run("plain", func(t *testing.T) { trickledData(t, false) })
	t.Run("prdr", func(t *testing.T) { trickledData(t, true) })
}

func trickledData(t *testing.T, prdr bool) {
	cfg := testConfig(t)
	cfg.PRDR = prdr
	cfg.IdleTimeout = time.Second
	cfg.DataTimeout = 4 * time.Second
	tm := startMTA(t, cfg)

	c := greet(t, tm.addr)
	c.MustCmd("MAIL FROM:<s@x.test>", 250)
	c.MustCmd("RCPT TO:<steady@example.test>", 250)
	c.MustCmd("DATA", 354)
	c.Write("Subject: steady\r\n\r\n")
	for range 6 {
		time.Sleep(300 * time.Millisecond)
		c.Write("a line of the body\r\n")
	}
	c.Write(".\r\n")
	c.Expect(250)
	only(t, tm.messages(t, "steady@example.test", "new"))

	// The same with BDAT (RFC 3030): a chunk, then one slower than the
	// idle timeout in all, never silent for it.
	line := "a line of the body\r\n"
	head := "Subject: chunked\r\n\r\n"
	c.MustCmd("MAIL FROM:<s@x.test>", 250)
	c.MustCmd("RCPT TO:<chunked@example.test>", 250)
	c.Write(fmt.Sprintf("BDAT %d\r\n%s", len(head), head))
	c.Expect(250)
	c.Write(fmt.Sprintf("BDAT %d LAST\r\n", 6*len(line)))
	for range 6 {
		time.Sleep(300 * time.Millisecond)
		c.Write(line)
	}
	c.Expect(250)
	only(t, tm.messages(t, "chunked@example.test", "new"))

	c.MustCmd("MAIL FROM:<s@x.test>", 250)
	c.MustCmd("RCPT TO:<trickled@example.test>", 250)
	c.MustCmd("DATA", 354)
	done := make(chan struct{})
	defer close(done)
	// 100 bytes, 100ms apart: ten seconds for the message.
	trickle(c.Conn(), "Subject: slow\r\n\r\n"+strings.Repeat("z", 78)+"\r\n.\r\n", 100*time.Millisecond, done)
	rep := c.ReadReply()
	if rep.Err != nil || rep.Code != 421 || !strings.HasPrefix(rep.Text(), "4.4.2") {
		t.Fatalf("want 421 4.4.2, got %v", rep)
	}
	if rep := c.ReadReply(); rep.Err == nil {
		t.Fatalf("connection left open: %v", rep)
	}
	// Stopping waits for the cut delivery to clean up.
	if err := tm.stop(); err != nil {
		t.Fatal(err)
	}
	if n := len(tm.messages(t, "trickled@example.test", "new")) + len(tm.messages(t, "trickled@example.test", "tmp")); n != 0 {
		t.Fatalf("%d files of the cut message left", n)
	}
}

// A data line past the line limit (RFC 5321 section 4.5.3.1.6 allows
// 1000 octets; the MTA takes twice that, as go-smtp) is refused with
// 500 5.5.2 and nothing is stored.
func TestListenOverlongDataLine(t *testing.T) {
	overlongDataLine(t, false, false)
}

// Behind the front (-prdr), with and without PRDR requested, the same
// line gets the same refusal as in plain mode. This needs the front to
// enforce its line limit in the data as go-smtp does.
func TestListenOverlongDataLineFront(t *testing.T) {
	t.Run("without-prdr", func(t *testing.T) { overlongDataLine(t, true, false) })
	t.Run("prdr", func(t *testing.T) { overlongDataLine(t, true, true) })
}

func overlongDataLine(t *testing.T, front, requestPRDR bool) {
	cfg := testConfig(t)
	cfg.PRDR = front
	tm := startMTA(t, cfg)
	c := greet(t, tm.addr)
	mail := "MAIL FROM:<s@x.test>"
	if requestPRDR {
		mail += " PRDR"
	}
	c.MustCmd(mail, 250)
	c.MustCmd("RCPT TO:<long@example.test>", 250)
	c.MustCmd("RCPT TO:<other@example.test>", 250)
	c.MustCmd("DATA", 354)
	c.Write("Subject: x\r\n\r\nshort line\r\n" + strings.Repeat("y", 3000) + "\r\nlast\r\n.\r\n")
	expectCode(t, c.ReadReply(), 500, "5.5.2")
	for _, mb := range []string{"long@example.test", "other@example.test"} {
		if n := len(tm.messages(t, mb, "new")) + len(tm.messages(t, mb, "tmp")); n != 0 {
			t.Fatalf("%s: %d files left behind", mb, n)
		}
	}
}
