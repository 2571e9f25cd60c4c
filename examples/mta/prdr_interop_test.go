//go:build interop

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/interop"
	"github.com/smtpkit/smtpkit/internal/rttproxy"
)

// fillQuota gives mailbox a quota file small enough that any message
// goes over it.
func fillQuota(t *testing.T, data, mailbox string) {
	t.Helper()
	dir := filepath.Join(data, "maildir", mailbox)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, quotaFile), []byte("10\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// swaks --prdr with three recipients, one over quota: 353, a reply per
// recipient, a final 250, two Maildir copies; over STARTTLS.
func TestInteropSwaksPRDR(t *testing.T) {
	interop.Need(t, "swaks")
	_, addr, data := startBinary(t, "-prdr")
	fillQuota(t, data, "full@example.test")
	host, port, _ := strings.Cut(addr, ":")
	out, err := interop.Run(t, time.Minute, "swaks", "--server", host, "--port", port, "-tls", "--prdr",
		"--from", "s@x.test", "--to", "one@example.test,full@example.test,two@example.test",
		"--body", strings.Repeat("a body line long enough\n", 5))
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	for _, want := range []string{"<~  353", "<~* 552 5.2.2", "<~  250"} {
		if !strings.Contains(out, want) {
			t.Fatalf("swaks transcript lacks %q:\n%s", want, out)
		}
	}
	if len(maildirFiles(t, data, "one@example.test")) != 1 || len(maildirFiles(t, data, "two@example.test")) != 1 {
		t.Fatal("the accepted recipients lack their copies")
	}
	if got := maildirFilesMaybe(data, "full@example.test"); len(got) != 0 {
		t.Fatal("the full mailbox got a copy")
	}
}

// Exim requests PRDR from the MTA, with plain DATA and with CHUNKING:
// PRDR on the delivered lines, a ** line for the refused recipient.
func TestInteropEximPRDRToMTA(t *testing.T) {
	for _, mode := range []string{"data", "chunking"} {
		t.Run(mode, func(t *testing.T) {
			_, addr, data := startBinary(t, "-prdr")
			fillQuota(t, data, "full@example.test")
			host, portStr, _ := strings.Cut(addr, ":")
			port, _ := strconv.Atoi(portStr)
			var transport []string
			if mode == "data" {
				transport = append(transport, "hosts_try_chunking =")
			}
			log := interop.EximSend(t, host, port, "s@x.test",
				[]string{"one@example.test", "full@example.test", "two@example.test"},
				"Subject: prdr "+mode+"\n\n"+strings.Repeat("a body line long enough\n", 5), transport...)
			var delivered, refused []string
			for _, l := range strings.Split(log, "\n") {
				switch {
				case strings.Contains(l, " => one@example.test") || strings.Contains(l, " -> two@example.test"):
					delivered = append(delivered, l)
				case strings.Contains(l, " ** full@example.test"):
					refused = append(refused, l)
				}
			}
			if len(delivered) != 2 || len(refused) != 1 {
				t.Fatalf("Exim's log:\n%s", log)
			}
			for _, l := range delivered {
				if !strings.Contains(l, " PRDR") || !strings.Contains(l, " X=TLS") {
					t.Fatalf("delivery without PRDR or TLS: %s", l)
				}
				if mode == "chunking" && !strings.Contains(l, " K") {
					t.Fatalf("CHUNKING not used: %s", l)
				}
			}
			if len(maildirFiles(t, data, "one@example.test")) != 1 || len(maildirFiles(t, data, "two@example.test")) != 1 {
				t.Fatal("copies missing")
			}
		})
	}
}

// The MTA relays with PRDR to Exim, which refuses prdrdeny1 after the
// data: the sender gets a DSN for it, the others are delivered once.
func TestInteropMTAPRDRToExim(t *testing.T) {
	exim := interop.StartExim(t, "")
	dns := mxTo(t)
	_, addr, data := startBinary(t, append(relayFlags(dns, exim), "-prdr")...)
	if err := submit(addr, "sender@example.test", []string{"a@remote.test", "prdrdeny1@remote.test", "b@remote.test"},
		[]byte("Subject: prdr relay\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	exim.WaitMessages(2, 30*time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for len(maildirFilesMaybe(data, "sender@example.test")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no DSN for prdrdeny1; Exim's log:\n%s", exim.MainLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
	dsn := string(maildirFilesMaybe(data, "sender@example.test")[0])
	if !strings.Contains(dsn, "Final-Recipient: rfc822; prdrdeny1@remote.test") || strings.Contains(dsn, "a@remote.test;") {
		t.Fatalf("DSN:\n%s", dsn)
	}
	time.Sleep(time.Second) // nothing more arrives
	if n := len(exim.Messages()); n != 2 {
		t.Fatalf("Exim holds %d messages, want 2", n)
	}
	if !strings.Contains(exim.MainLog(), "PRDR") {
		t.Fatalf("Exim's log shows no PRDR:\n%s", exim.MainLog())
	}
}

// Exim with hosts_pipe_connect sends two messages to the MTA: its second
// connection pipelines early (L* in its log), over STARTTLS.
func TestInteropEximPipeconnectToMTA(t *testing.T) {
	_, addr, data := startBinary(t, "-pipeconnect")
	host, portStr, _ := strings.Cut(addr, ":")
	port, _ := strconv.Atoi(portStr)
	c := interop.NewEximClient(t, host, port)
	var log string
	for i := 0; i < 2; i++ {
		log = c.Send("s@x.test", []string{"pc" + strconv.Itoa(i) + "@example.test"}, "Subject: pc\n\nbody\n")
	}
	var deliveries []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, " => ") {
			deliveries = append(deliveries, l)
		}
	}
	if len(deliveries) != 2 || strings.Contains(deliveries[0], " L*") || !strings.Contains(deliveries[1], " L*") ||
		!strings.Contains(deliveries[1], " X=TLS") {
		t.Fatalf("want L* (and TLS) on the second delivery only:\n%s", strings.Join(deliveries, "\n"))
	}
	for i := 0; i < 2; i++ {
		if len(maildirFiles(t, data, "pc"+strconv.Itoa(i)+"@example.test")) != 1 {
			t.Fatal("copy missing")
		}
	}
}

// The MTA sends two messages to Exim with -pipeconnect, restarting in
// between so that the second goes on a new connection: the EHLO cache,
// kept under DATA, makes it pipeline early, and Exim's receive log shows
// L* for it; over STARTTLS.
//
// Exim logs L* only when early input is already readable as it writes the
// banner (a zero-timeout poll; the relay's EHLO after TLS goes alone, so
// the banner is the one place it looks). A client that pipelines early but
// runs late on a busy machine is logged L. all the same. The proxy in
// front of Exim makes that lateness certain (the input arrives 50ms after
// the connection); the connect ACL's one second delay before the banner
// takes the race out.
func TestInteropMTAPipeconnectToExim(t *testing.T) {
	exim := interop.StartExim(t, "acl_smtp_connect = accept delay = 1s")
	late := rttproxy.Start(t, interop.Addr(exim.Port), 50*time.Millisecond)
	_, port, _ := strings.Cut(late.Addr, ":")
	dns := mxTo(t)
	bin := interop.Build(t, ".")
	data := t.TempDir()
	addr := interop.Addr(interop.FreePort(t))
	args := []string{"-listen", addr, "-data", data, "-hostname", "mx.test",
		"-local-domains", "example.test", "-pipeconnect", "-dns", dns.Addr(), "-remote-port", port, "-retry", "1s"}
	for i := 0; i < 2; i++ {
		p := interop.Start(t, bin, args...)
		interop.WaitPort(t, addr, 10*time.Second)
		if err := submit(addr, "sender@example.test", []string{"r" + strconv.Itoa(i) + "@remote.test"},
			[]byte("Subject: pc\r\n\r\nbody\r\n")); err != nil {
			t.Fatal(err)
		}
		exim.WaitMessages(i+1, 30*time.Second)
		if err := p.Stop(20 * time.Second); err != nil {
			t.Fatalf("stop: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "pipeconnect.json")); err != nil {
		t.Fatalf("no EHLO cache under DATA: %v", err)
	}
	var received []string
	for _, l := range strings.Split(exim.MainLog(), "\n") {
		if strings.Contains(l, " <= sender@example.test ") {
			received = append(received, l)
		}
	}
	if len(received) != 2 || strings.Contains(received[0], " L*") || !strings.Contains(received[1], " L*") ||
		!strings.Contains(received[1], " X=TLS") {
		t.Fatalf("want L* (and TLS) on the second reception only:\n%s", strings.Join(received, "\n"))
	}
}
