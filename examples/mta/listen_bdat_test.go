package main

import (
	"testing"
	"time"
)

// BDAT outside a transaction (RFC 3030 section 2: BDAT needs a MAIL and
// an accepted RCPT first) is refused at once, in plain mode and behind
// the front, and its chunk is read and dropped, not taken for commands:
// the session goes on. The idle timeout is long, so an answer that waited
// for it would fail the client's short read deadline.
func TestListenBDATOutsideTransaction(t *testing.T) {
	for _, mode := range []string{"plain", "prdr"} {
		t.Run(mode, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.PRDR = mode == "prdr"
			cfg.IdleTimeout = time.Hour
			tm := startMTA(t, cfg)
			c := greet(t, tm.addr)
			c.Timeout = 10 * time.Second
			for _, setup := range [][]string{nil, {"MAIL FROM:<s@x.test>"}} {
				for _, cmd := range setup {
					c.MustCmd(cmd, 250)
				}
				c.Write("BDAT 3 LAST\r\nabc")
				if rep := c.ReadReply(); rep.Code/100 != 5 {
					t.Fatalf("after %q: BDAT got %v", setup, rep)
				}
				c.MustCmd("RSET", 250)
			}
			// A chunk that looks like commands is data all the same.
			c.Write("BDAT 6 LAST\r\nQUIT\r\n")
			if rep := c.ReadReply(); rep.Code/100 != 5 {
				t.Fatalf("BDAT got %v", rep)
			}
			c.MustCmd("NOOP", 250)
			c.MustCmd("MAIL FROM:<s@x.test>", 250)
			c.MustCmd("RCPT TO:<a@example.test>", 250)
			c.Write("BDAT 20 LAST\r\nSubject: x\r\n\r\nbody\r\n")
			c.Expect(250)
			c.MustCmd("QUIT", 221)
			only(t, tm.messages(t, "a@example.test", "new"))
		})
	}
}

// An address with a control character (RFC 5321 section 4.1.2 allows
// none, quoted or not) is refused at MAIL (501 5.1.7) and RCPT (501
// 5.1.3), in both modes: such a sender could never get a DSN, and such a
// recipient never be relayed.
func TestControlCharactersInAddresses(t *testing.T) {
	for _, mode := range []string{"plain", "prdr"} {
		t.Run(mode, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.PRDR = mode == "prdr"
			tm := startMTA(t, cfg)
			c := greet(t, tm.addr)
			for _, addr := range []string{"a\x00b@x.test", "a\rb@x.test", "\"a\x01\"@x.test", "a@x\x7f.test"} {
				expectCode(t, c.Cmd("MAIL FROM:<"+addr+">"), 501, "5.1.7")
			}
			// go-smtp takes a tab for the end of the address.
			if rep := c.Cmd("MAIL FROM:<a\tb@x.test>"); rep.Code != 501 {
				t.Fatalf("tab: %v", rep)
			}
			c.MustCmd("MAIL FROM:<s@x.test>", 250)
			for _, addr := range []string{"a\x00b@example.test", "a\rb@remote.test", "\"a\x1b\"@example.test"} {
				expectCode(t, c.Cmd("RCPT TO:<"+addr+">"), 501, "5.1.3")
			}
			c.MustCmd("RCPT TO:<a@example.test>", 250)
			c.MustCmd("QUIT", 221)
		})
	}
}
