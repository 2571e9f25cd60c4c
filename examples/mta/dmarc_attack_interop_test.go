//go:build interop

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/interop"
)

// swaksData has swaks send msg as the whole DATA of one transaction from
// mailFrom to rcpt, with HELO client.test, and returns its transcript.
func swaksData(t *testing.T, addr, mailFrom, rcpt, msg string) (string, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "msg.eml")
	if err := os.WriteFile(file, []byte(msg), 0o644); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(addr, ":")
	return interop.Run(t, time.Minute, "swaks", "--server", host, "--port", port, "--helo", "client.test",
		"--from", mailFrom, "--to", rcpt, "--data", "@"+file)
}

// TestInteropDMARCAttacks: swaks sends the MTA binary (-spf -dmarc,
// against the in-process DNS server) the messages that claim bank.test,
// p=reject, in From forms net/mail does not read, next to other authors,
// with no From, and behind a header section over 1 MiB. Each gets 550
// 5.7.1, or 552 5.3.4 for the size, and no copy lands in the Maildir.
// With -dmarc-deliver-nofrom a message with no From is delivered, with
// the forged Authentication-Results of our authserv-id gone.
func TestInteropDMARCAttacks(t *testing.T) {
	interop.Need(t, "swaks")
	dns := dmarcAttackWorld(t)
	_, addr, data := startBinary(t, "-dns", dns.Addr(), "-spf", "-dmarc")
	for _, a := range dmarcAttacks {
		t.Run(a.name, func(t *testing.T) {
			out, err := swaksData(t, addr, "bounce@relay.test", "ceo@example.test", a.header+"Subject: wire the money\r\n\r\nbody\r\n")
			if got := swaksReply(out, "."); !strings.HasPrefix(got, a.reply+" ") {
				t.Fatalf("end of data reply %q, want %s (swaks: %v)\n%.3000s", got, a.reply, err, out)
			}
			if err == nil {
				t.Fatal("swaks reports success")
			}
		})
	}
	if got := maildirFilesMaybe(data, "ceo@example.test"); len(got) != 0 {
		t.Fatalf("%d copies delivered:\n%s", len(got), got[0])
	}
	if got := maildirFilesMaybe(data, "ceo@example.test/.Junk"); len(got) != 0 {
		t.Fatalf("%d copies quarantined:\n%s", len(got), got[0])
	}

	_, addr, data = startBinary(t, "-dns", dns.Addr(), "-spf", "-dmarc", "-dmarc-deliver-nofrom")
	forged := "Authentication-Results:\r\n\t(our own) MX.TEST 1;\r\n\tdmarc=pass header.from=bank.test\r\n"
	out, err := swaksData(t, addr, "bounce@relay.test", "nofrom@example.test", forged+"Subject: no From\r\n\r\nbody\r\n")
	if got := swaksReply(out, "."); !strings.HasPrefix(got, "250 ") || err != nil {
		t.Fatalf("no From with -dmarc-deliver-nofrom: %q (swaks: %v)\n%s", got, err, out)
	}
	out, _ = swaksData(t, addr, "bounce@relay.test", "nofrom@example.test", "From: ::\r\nFrom: ceo@bank.test\r\nSubject: both\r\n\r\nbody\r\n")
	if got := swaksReply(out, "."); !strings.HasPrefix(got, "550 5.7.1 ") {
		t.Fatalf("bank.test next to an unusable From: %q\n%s", got, out)
	}
	copies := maildirFilesMaybe(data, "nofrom@example.test")
	if len(copies) != 1 {
		t.Fatalf("%d copies, want 1", len(copies))
	}
	msg := string(copies[0])
	if strings.Count(msg, "Authentication-Results:") != 1 || strings.Contains(msg, "dmarc=pass") || !strings.Contains(msg, "Authentication-Results: mx.test;") {
		t.Fatalf("delivered:\n%s", msg)
	}
}
