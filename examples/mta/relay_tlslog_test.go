package main

import (
	"bufio"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/pkitest"
)

// scriptedTLSPeer is an SMTP server on loopback that offers STARTTLS,
// completes the handshake, and then behaves as afterTLS says: "drop" on
// the EHLO after TLS, "421" to it, "drop-at-mail" or "550-at-mail" after
// a good EHLO.
func scriptedTLSPeer(t *testing.T, afterTLS string) string {
	t.Helper()
	leaf := pkitest.NewCA(t, pkitest.ECDSA).Issue(t, pkitest.Leaf{Names: []string{"mx.remote.test"}})
	cfg := &tls.Config{Certificates: []tls.Certificate{leaf.TLS()}}
	return serveTCP(t, func(c net.Conn) { serveScript(c, cfg, afterTLS) })
}

func serveScript(c net.Conn, cfg *tls.Config, afterTLS string) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	say := func(w net.Conn, s string) { w.Write([]byte(s + "\r\n")) }
	read := func(r *bufio.Reader) string { line, _ := r.ReadString('\n'); return strings.ToUpper(line) }
	say(c, "220 mx.remote.test ESMTP")
	if !strings.HasPrefix(read(r), "EHLO") {
		return
	}
	say(c, "250-mx.remote.test\r\n250 STARTTLS")
	if !strings.HasPrefix(read(r), "STARTTLS") {
		return
	}
	say(c, "220 go ahead")
	tc := tls.Server(c, cfg)
	if tc.Handshake() != nil {
		return
	}
	defer tc.Close()
	tr := bufio.NewReader(tc)
	if !strings.HasPrefix(read(tr), "EHLO") {
		return
	}
	switch afterTLS {
	case "drop":
		return
	case "421":
		say(tc, "421 4.3.2 going away")
		return
	}
	say(tc, "250-mx.remote.test\r\n250 PIPELINING")
	for {
		line := read(tr)
		switch {
		case line == "":
			return
		case strings.HasPrefix(line, "MAIL") && afterTLS == "drop-at-mail":
			return
		case strings.HasPrefix(line, "MAIL"):
			say(tc, "550 5.7.1 not from you")
		case strings.HasPrefix(line, "RCPT"):
			say(tc, "503 5.5.1 no MAIL")
		case strings.HasPrefix(line, "QUIT"):
			say(tc, "221 bye")
			return
		default:
			say(tc, "503 5.5.1 no")
		}
	}
}

// An attempt that fails after the TLS handshake is logged with the TLS
// version, never as tls=none: the server drops or refuses right after
// TLS, drops at MAIL, or refuses MAIL.
func TestFailedAttemptAfterTLSLogsTLS(t *testing.T) {
	for _, script := range []string{"drop", "421", "drop-at-mail", "550-at-mail"} {
		t.Run(script, func(t *testing.T) {
			peer := scriptedTLSPeer(t, script)
			cfg := relayConfig(t, remoteWorld(t), peer)
			cfg.Retry = []time.Duration{time.Hour}
			tm := startMTA(t, cfg)
			sendMessage(t, tm.addr, "sender@example.test", []string{"r@remote.test"}, body)
			if script == "550-at-mail" {
				tm.waitLog(t, `msg="delivery attempt"`, "result=failed")
			} else {
				tm.waitLog(t, `msg="delivery deferred"`, "domain=remote.test")
			}
			lines := append(tm.logs.lines(`msg="connection failed"`), tm.logs.lines(`msg="delivery attempt"`)...)
			if len(lines) == 0 {
				t.Fatal("the attempt was not logged")
			}
			for _, line := range lines {
				if !strings.Contains(line, " tls=TLS1.3 ") {
					t.Fatalf("an attempt after TLS logged without it: %s", line)
				}
			}
		})
	}
}
