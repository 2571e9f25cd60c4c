package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// modes runs f for go-smtp reading the client itself and behind the
// front (-prdr).
func modes(t *testing.T, f func(t *testing.T, prdr bool)) {
	t.Run("plain", func(t *testing.T) { f(t, false) })
	t.Run("prdr", func(t *testing.T) { f(t, true) })
}

// SMTP smuggling (CVE-2023-51764 and kin): RFC 5321 section 4.1.1.4 ends
// the data only at CRLF "." CRLF. A line "." ended by a bare LF, or
// preceded by one, or by a bare CR, is data: the commands after it must
// not run as a second transaction, in either mode, and both modes must
// read the message to the same end.
func TestProbeSmugglingEndsOnlyAtCRLFDotCRLF(t *testing.T) {
	smuggled := "MAIL FROM:<evil@x.test>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n"
	for name, marker := range map[string]string{
		"LF.CRLF":   "\n.\r\n",
		"CRLF.LF":   "\r\n.\n",
		"LF.LF":     "\n.\n",
		"CR.CRLF":   "\r.\r\n",
		"CRLF.CR":   "\r\n.\r",
		"CRLF.CRCR": "\r\n.\r\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			modes(t, func(t *testing.T, prdr bool) {
				cfg := testConfig(t)
				cfg.PRDR = prdr
				tm := startMTA(t, cfg)
				c := greet(t, tm.addr)
				c.MustCmd("MAIL FROM:<s@x.test>", 250)
				c.MustCmd("RCPT TO:<a@example.test>", 250)
				c.MustCmd("DATA", 354)
				c.Write("Subject: carrier\r\n\r\nbody" + marker + smuggled + ".\r\n")
				rep := c.ReadReply()
				if rep.Err != nil {
					t.Fatalf("end of data: %v", rep.Err)
				}
				// The next reply must be QUIT's: no reply to a smuggled
				// command came before it.
				c.MustCmd("QUIT", 221)
				if n := len(tm.messages(t, "victim@example.test", "new")); n != 0 {
					t.Fatalf("smuggled message delivered (%d)", n)
				}
				if rep.Code == 250 {
					_, msg := only(t, tm.messages(t, "a@example.test", "new"))
					if !strings.Contains(string(msg), "evil@x.test") {
						t.Fatalf("the message ended early:\n%s", msg)
					}
				}
			})
		})
	}
}

// bdat sends one BDAT chunk and returns the reply.
func bdat(c *smtptest.Client, chunk string, last bool) smtptest.Reply {
	cmd := fmt.Sprintf("BDAT %d", len(chunk))
	if last {
		cmd += " LAST"
	}
	c.Write(cmd + "\r\n" + chunk)
	return c.ReadReply()
}

// RFC 3030 section 2 and RFC 1870: chunk sizes that are no number, or
// larger than any message, are refused without reading a chunk; a
// message over -max-size by one chunk or by DATA gets 552 5.3.4 (by the
// sum of its chunks: TestProbeBDATAbortThenNextTransaction) and nothing is stored; the session goes on.
func TestProbeBDATSizes(t *testing.T) {
	modes(t, func(t *testing.T, prdr bool) {
		cfg := testConfig(t)
		cfg.PRDR = prdr
		cfg.MaxSize = 1000
		tm := startMTA(t, cfg)
		c := greet(t, tm.addr)
		for _, size := range []string{"99999999999999999999", "-1", "+5", "1x", "0x10", "4294967296"} {
			c.MustCmd("MAIL FROM:<s@x.test>", 250)
			c.MustCmd("RCPT TO:<a@example.test>", 250)
			expectCode(t, c.Cmd("BDAT "+size+" LAST"), 501, "5.5.4")
			c.MustCmd("NOOP", 250)
			c.MustCmd("RSET", 250)
		}
		half := "Subject: x\r\n\r\n" + strings.Repeat("y", 586)
		c.MustCmd("MAIL FROM:<s@x.test>", 250)
		c.MustCmd("RCPT TO:<a@example.test>", 250)
		expectCode(t, bdat(c, half+half, true), 552, "5.3.4")
		c.MustCmd("MAIL FROM:<s@x.test>", 250)
		c.MustCmd("RCPT TO:<a@example.test>", 250)
		c.MustCmd("DATA", 354)
		c.Write(half + half + "\r\n.\r\n")
		expectCode(t, c.ReadReply(), 552, "5.3.4")
		// Exactly at the limit: delivered.
		c.MustCmd("MAIL FROM:<s@x.test>", 250)
		c.MustCmd("RCPT TO:<a@example.test>", 250)
		bdat(c, half, false)
		if rep := bdat(c, strings.Repeat("z", 1000-len(half)), true); rep.Code != 250 {
			t.Fatalf("at the limit: %v", rep)
		}
		c.MustCmd("QUIT", 221)
		only(t, tm.messages(t, "a@example.test", "new"))
	})
}

// BDAT carries octets, not lines (RFC 3030 section 2): a ".\r\n" inside
// a chunk ends nothing, and the commands after it are message text.
// BDAT 0 LAST ends a message of what came before; outside a transaction
// it is refused and the session goes on.
func TestProbeBDATDotAndEmptyLast(t *testing.T) {
	modes(t, func(t *testing.T, prdr bool) {
		cfg := testConfig(t)
		cfg.PRDR = prdr
		tm := startMTA(t, cfg)
		c := greet(t, tm.addr)
		if rep := c.Cmd("BDAT 0 LAST"); rep.Code/100 != 5 {
			t.Fatalf("BDAT 0 LAST outside a transaction: %v", rep)
		}
		c.MustCmd("NOOP", 250)
		c.MustCmd("MAIL FROM:<s@x.test>", 250)
		c.MustCmd("RCPT TO:<a@example.test>", 250)
		chunk := "Subject: x\r\n\r\nbody\r\n.\r\nRCPT TO:<victim@example.test>\r\n"
		if rep := bdat(c, chunk, false); rep.Code != 250 {
			t.Fatalf("chunk: %v", rep)
		}
		if rep := bdat(c, "", true); rep.Code != 250 {
			t.Fatalf("BDAT 0 LAST: %v", rep)
		}
		c.MustCmd("QUIT", 221)
		_, msg := only(t, tm.messages(t, "a@example.test", "new"))
		if !strings.Contains(string(msg), "\n.\nRCPT TO:<victim@example.test>\n") { // maildir stores LF
			t.Fatalf("chunk not kept as it was:\n%q", msg)
		}
	})
}

// The Received count and the header size are kept across BDAT chunks: a
// field name split between two chunks still counts, and a header section
// that never ends is refused once it is over -header-maxsize.
func TestProbeHeaderScanAcrossChunks(t *testing.T) {
	modes(t, func(t *testing.T, prdr bool) {
		cfg := testConfig(t)
		cfg.PRDR = prdr
		cfg.MaxReceived = 1
		cfg.HeaderMax = 4096
		tm := startMTA(t, cfg)
		c := greet(t, tm.addr)
		c.MustCmd("MAIL FROM:<s@x.test>", 250)
		c.MustCmd("RCPT TO:<a@example.test>", 250)
		bdat(c, "Received: from a\r\nRece", false)
		expectCode(t, bdat(c, "ived: from b\r\nSubject: x\r\n\r\nbody\r\n", true), 554, "5.4.6")

		c.MustCmd("MAIL FROM:<s@x.test>", 250)
		c.MustCmd("RCPT TO:<a@example.test>", 250)
		line := "X-Pad: " + strings.Repeat("p", 90) + "\r\n"
		var rep smtptest.Reply
		for i := 0; i < 10; i++ {
			rep = bdat(c, strings.Repeat(line, 10), false)
			if rep.Code != 250 {
				break
			}
		}
		if rep.Code == 250 {
			rep = bdat(c, "", true)
		}
		expectCode(t, rep, 552, "5.3.4")
		c.MustCmd("QUIT", 221)
		if n := len(tm.messages(t, "a@example.test", "new")); n != 0 {
			t.Fatalf("%d refused messages stored", n)
		}
	})
}
