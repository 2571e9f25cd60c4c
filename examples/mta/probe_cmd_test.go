package main

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// Command lines a client should not send get the same refusal in both
// modes, and the session goes on: a NUL in the verb (501), recipients
// past -max-recipients (452 4.5.3, RFC 5321 section 4.5.3.1.8), a local
// recipient with a NUL (553); EHLO and HELO in a transaction reset it
// (RFC 5321 section 4.1.4), so DATA after them is refused; STARTTLS
// under TLS is refused (RFC 3207 section 4.2); an overlong line ends the
// session with 500.
func TestProbeCommandParsing(t *testing.T) {
	modes(t, func(t *testing.T, prdr bool) {
		cfg := testConfig(t)
		cfg.PRDR = prdr
		cfg.MaxRecipients = 3
		tm := startMTA(t, cfg)
		c := greet(t, tm.addr)
		c.Timeout = 5 * time.Second
		expectCode(t, c.Cmd("NOOP\x00x"), 501, "5.5.2")
		c.MustCmd("MAIL FROM:<s@x.test>", 250)
		if rep := c.Cmd("RCPT TO:<a\x00@example.test>"); rep.Code/100 != 5 {
			t.Fatalf("recipient with NUL: %v", rep)
		}
		for _, r := range []string{"a", "b", "c"} {
			c.MustCmd("RCPT TO:<"+r+"@example.test>", 250)
		}
		for range 3 {
			expectCode(t, c.Cmd("RCPT TO:<d@example.test>"), 452, "4.5.3")
		}
		for _, hello := range []string{"EHLO again.test", "HELO again.test"} {
			c.MustCmd(hello, 250)
			if rep := c.Cmd("DATA"); rep.Code/100 != 5 {
				t.Fatalf("DATA after %s in a transaction: %v", hello, rep)
			}
			c.MustCmd("MAIL FROM:<s@x.test>", 250)
			c.MustCmd("RCPT TO:<a@example.test>", 250)
		}
		c.MustCmd("RSET", 250)
		for range 50 {
			c.MustCmd("MAIL FROM:<s@x.test>", 250)
			c.MustCmd("RSET", 250)
		}
		c.MustCmd("EHLO client.test", 250)
		c.MustCmd("STARTTLS", 220)
		tc := tls.Client(c.Conn(), &tls.Config{InsecureSkipVerify: true})
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		read := func() string {
			buf := make([]byte, 4096)
			var got string
			for !strings.Contains(got, "\r\n") || strings.Contains(got[strings.LastIndex(strings.TrimSuffix(got, "\r\n"), "\n")+1:], "-") && !strings.HasSuffix(lastReplyLine(got), "\r\n") {
				n, err := tc.Read(buf)
				got += string(buf[:n])
				if err != nil {
					break
				}
			}
			return got
		}
		io.WriteString(tc, "EHLO client.test\r\n")
		for !strings.Contains(read(), "250 ") {
		}
		io.WriteString(tc, "STARTTLS\r\n")
		if got := read(); !strings.HasPrefix(got, "502 ") && !strings.HasPrefix(got, "503 ") {
			t.Fatalf("STARTTLS under TLS: %q", got)
		}
		io.WriteString(tc, "NOOP "+strings.Repeat("x", 3000)+"\r\n")
		if got := read(); !strings.HasPrefix(got, "500 ") {
			t.Fatalf("overlong line: %q", got)
		}
	})
}

func lastReplyLine(s string) string {
	s = strings.TrimSuffix(s, "\r\n")
	return s[strings.LastIndex(s, "\n")+1:] + "\r\n"
}

// RFC 3207 section 5 (CVE-2011-0411): "STARTTLS\r\nRSET\r\n" in one
// packet. The RSET must not be answered under TLS, in either mode.
func TestProbeSTARTTLSInjectionMTA(t *testing.T) {
	modes(t, func(t *testing.T, prdr bool) {
		cfg := testConfig(t)
		cfg.PRDR = prdr
		tm := startMTA(t, cfg)
		c := greet(t, tm.addr)
		c.Timeout = 5 * time.Second
		c.Write("STARTTLS\r\nRSET\r\n")
		if rep := c.ReadReply(); rep.Code != 220 {
			return // refused as a whole
		}
		tc := tls.Client(c.Conn(), &tls.Config{InsecureSkipVerify: true})
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := tc.Handshake(); err != nil {
			return
		}
		tc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		buf := make([]byte, 512)
		if n, err := tc.Read(buf); n > 0 {
			t.Fatalf("a reply under TLS before any command: %q (%v)", buf[:n], err)
		} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			t.Logf("connection ended: %v", err)
		}
	})
}

// RFC 5321 section 4.5.3.2.7: the idle timeout is per command line. A
// BDAT size line or an EHLO trickled byte by byte is cut, in both modes,
// before it is complete.
func TestProbeTrickledCommands(t *testing.T) {
	for _, line := range []string{"EHLO " + strings.Repeat("h", 60) + "\r\n", "BDAT 1000000000000000000000000000000000000000000000000000000000 LAST\r\n"} {
		modes(t, func(t *testing.T, prdr bool) {
			cfg := testConfig(t)
			cfg.PRDR = prdr
			cfg.IdleTimeout = 500 * time.Millisecond
			tm := startMTA(t, cfg)
			c := greet(t, tm.addr)
			c.MustCmd("MAIL FROM:<s@x.test>", 250)
			c.MustCmd("RCPT TO:<a@example.test>", 250)
			done := make(chan struct{})
			defer close(done)
			all := trickle(c.Conn(), line, 50*time.Millisecond, done)
			var codes []int
			for {
				rep := c.ReadReply()
				if rep.Err != nil {
					break
				}
				codes = append(codes, rep.Code)
			}
			if <-all {
				t.Fatalf("%q went in whole; replies %v", line, codes)
			}
		})
	}
}

// RFC 3207: a TLS ClientHello trickled a byte at a time after STARTTLS
// is cut within the idle timeout (plain) or the handshake timeout (front),
// not kept open as long as the bytes come.
func TestProbeTrickledClientHelloMTA(t *testing.T) {
	modes(t, func(t *testing.T, prdr bool) {
		cfg := testConfig(t)
		cfg.PRDR = prdr
		cfg.IdleTimeout = 500 * time.Millisecond
		tm := startMTA(t, cfg)
		c := greet(t, tm.addr)
		c.MustCmd("STARTTLS", 220)
		done := make(chan struct{})
		defer close(done)
		hello := "\x16\x03\x01\x02\x00" + strings.Repeat("\x01", 200)
		all := trickle(c.Conn(), hello, 50*time.Millisecond, done)
		c.Conn().SetReadDeadline(time.Now().Add(30 * time.Second))
		io.Copy(io.Discard, c.Conn()) // until the server closes
		if <-all {
			t.Fatal("the trickled handshake was never cut")
		}
	})
}
