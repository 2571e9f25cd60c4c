//go:build interop

package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/interop"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// Behind HAProxy, the client connects from 127.0.0.2 so that its address
// and the proxy's (127.0.0.1) differ in what the MTA records.
func TestInteropHAProxyInFront(t *testing.T) {
	interop.Need(t, "swaks")
	for _, version := range []string{"v1", "v2"} {
		t.Run(version, func(t *testing.T) {
			p, addr, data := startBinary(t, "-proxy-required-hosts", "127.0.0.1/32")
			hport := interop.StartHAProxy(t, addr, version)
			out, err := interop.Run(t, time.Minute, "swaks", "--server", "127.0.0.1", "--port", strconv.Itoa(hport),
				"--local-interface", "127.0.0.2", "--from", "s@x.test", "--to", "behind@example.test", "-tls")
			if err != nil {
				t.Fatalf("swaks through HAProxy: %v\n%s", err, out)
			}
			msgs := maildirFiles(t, data, "behind@example.test")
			if len(msgs) != 1 || !strings.Contains(string(msgs[0]), "[127.0.0.2])") {
				t.Fatalf("Received header does not name the client 127.0.0.2:\n%s", msgs)
			}
			waitLog(t, p, `msg="message accepted"`)
			if line := logLine(p.Output(), `msg="message accepted"`); !strings.Contains(line, "PRX=127.0.0.1") {
				t.Fatalf("log line lacks PRX=127.0.0.1: %s", line)
			}
		})
	}
}

func waitLog(t *testing.T, p *interop.Process, needle string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Output(), needle) {
		if time.Now().After(deadline) {
			t.Fatalf("log never showed %s:\n%s", needle, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func logLine(out, needle string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, needle) {
			return l
		}
	}
	return ""
}

func TestInteropProxyRequiredWithoutHeader(t *testing.T) {
	_, addr, _ := startBinary(t, "-proxy-required-hosts", "127.0.0.1/32", "-proxy-timeout", "300ms")
	c := smtptest.Dial(t, addr)
	c.Expect(220) // the banner comes once the header did not
	for _, cmd := range []string{"EHLO client.test", "MAIL FROM:<a@x.test>", "RCPT TO:<b@example.test>"} {
		if rep := c.Cmd(cmd); rep.Code != 503 || !strings.Contains(rep.Text(), "required Proxy negotiation failed") {
			t.Fatalf("%s: %v", cmd, rep)
		}
	}
	c.MustCmd("QUIT", 221)
}

func TestInteropProxyHeaderFromOtherHostNotBelieved(t *testing.T) {
	_, addr, _ := startBinary(t, "-proxy-required-hosts", "127.0.0.1/32")
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, "220 ") {
		t.Fatalf("banner %q", line)
	}
	fmt.Fprintf(conn, "PROXY TCP4 198.51.100.7 127.0.0.1 4444 25\r\n")
	if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, "5") {
		t.Fatalf("a header from an untrusted host was taken as more than data: %q", line)
	}
}

func TestInteropEximThroughHAProxy(t *testing.T) {
	_, addr, data := startBinary(t, "-proxy-required-hosts", "127.0.0.1/32")
	hport := interop.StartHAProxy(t, addr, "v2")
	log := interop.EximSend(t, "127.0.0.1", hport, "s@x.test", []string{"viaproxy@example.test"}, "Subject: p\n\nthrough haproxy\n")
	if !strings.Contains(log, "=> viaproxy@example.test") {
		t.Fatalf("Exim did not deliver through HAProxy:\n%s", log)
	}
	if msgs := maildirFiles(t, data, "viaproxy@example.test"); len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
}

func TestInteropOutboundToEximBehindHAProxy(t *testing.T) {
	exim := interop.StartExim(t, "hosts_proxy = 127.0.0.1")
	hport := interop.StartHAProxy(t, interop.Addr(exim.Port), "v1")
	_, addr, _ := startBinary(t, "-smarthost", interop.Addr(hport), "-retry", "1s")
	if err := submit(addr, "s@example.test", []string{"far@remote.test"}, []byte("Subject: out\r\n\r\nout via haproxy\r\n")); err != nil {
		t.Fatal(err)
	}
	exim.WaitMessages(1, 30*time.Second)
	if !strings.Contains(exim.MainLog(), "PRX=127.0.0.1") {
		t.Fatalf("Exim's log shows no proxied session:\n%s", exim.MainLog())
	}
}

func TestInteropOutboundThroughDante(t *testing.T) {
	exim := interop.StartExim(t, "")
	dport, dlog := interop.StartDante(t)
	dead := interop.FreePort(t) // nothing listens there
	good := fmt.Sprintf("127.0.0.1 auth=name name=%s pass=%s port=%d tmo=5", interop.DanteUser, interop.DantePass, dport)
	bad := fmt.Sprintf("127.0.0.1 auth=name name=%s pass=wrong port=%d tmo=5", interop.DanteUser, dport)

	t.Run("failover", func(t *testing.T) {
		spec := fmt.Sprintf("127.0.0.1 port=%d tmo=2 : %s", dead, good)
		p, addr, _ := startBinary(t, "-smarthost", interop.Addr(exim.Port), "-socks", spec, "-retry", "1s")
		if err := submit(addr, "s@example.test", []string{"socks@remote.test"}, []byte("Subject: s\r\n\r\nvia dante\r\n")); err != nil {
			t.Fatal(err)
		}
		exim.WaitMessages(1, 30*time.Second)
		waitLog(t, p, `result=delivered`)
		if line := logLine(p.Output(), "result=delivered"); !strings.Contains(line, fmt.Sprintf("socks=127.0.0.1:%d", dport)) {
			t.Fatalf("delivery log does not name the proxy used: %s", line)
		}
		b, _ := os.ReadFile(dlog)
		if !strings.Contains(string(b), fmt.Sprintf("127.0.0.1.%d", exim.Port)) {
			t.Fatalf("Dante's log shows no connection to Exim's port %d:\n%s", exim.Port, b)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		before := len(exim.Messages())
		p, addr, _ := startBinary(t, "-smarthost", interop.Addr(exim.Port), "-socks", bad, "-retry", "1m")
		if err := submit(addr, "s@example.test", []string{"nope@remote.test"}, []byte("Subject: s\r\n\r\nnot delivered\r\n")); err != nil {
			t.Fatal(err)
		}
		waitLog(t, p, `msg="delivery deferred"`)
		if line := logLine(p.Output(), `msg="delivery deferred"`); !strings.Contains(strings.ToLower(line), "auth") {
			t.Fatalf("deferral does not say authentication failed: %s", line)
		}
		if strings.Contains(p.Output(), "pass=wrong") {
			t.Fatal("the password appears in the log")
		}
		if len(exim.Messages()) != before {
			t.Fatal("delivered despite the refused proxy authentication")
		}
	})
}
