//go:build interop

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/interop"
)

// startBinary builds examples/mta from source and runs it on a free
// loopback port with the given extra flags. It returns the address and the
// data folder.
func startBinary(t *testing.T, extra ...string) (*interop.Process, string, string) {
	t.Helper()
	bin := interop.Build(t, ".")
	data := t.TempDir()
	addr := interop.Addr(interop.FreePort(t))
	args := append([]string{"-listen", addr, "-data", data, "-hostname", "mx.test",
		"-local-domains", "example.test,mx.test", "-log-level", "debug"}, extra...)
	p := interop.Start(t, bin, args...)
	interop.WaitPort(t, addr, 10*time.Second)
	return p, addr, data
}

func maildirFiles(t *testing.T, data, mailbox string) [][]byte {
	t.Helper()
	dir := filepath.Join(data, "maildir", mailbox, "new")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("mailbox %s: %v", mailbox, err)
	}
	var out [][]byte
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestInteropSwaksSTARTTLSTwoRecipients(t *testing.T) {
	interop.Need(t, "swaks")
	p, addr, data := startBinary(t)
	host, port, _ := strings.Cut(addr, ":")
	out, err := interop.Run(t, time.Minute, "swaks", "--server", host, "--port", port,
		"--from", "sender@x.test", "--to", "alice@example.test,bob@mx.test", "-tls",
		"--header", "Subject: interop", "--body", "body line\n.dot line\nend")
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	if !strings.Contains(out, "<~  250 2.0.0 OK") {
		t.Fatalf("swaks transcript lacks the TLS-protected 250:\n%s", out)
	}
	a := maildirFiles(t, data, "alice@example.test")
	b := maildirFiles(t, data, "bob@mx.test")
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("copies: %d and %d", len(a), len(b))
	}
	_, bodyA, _ := bytes.Cut(a[0], []byte("\n\n"))
	_, bodyB, _ := bytes.Cut(b[0], []byte("\n\n"))
	if !bytes.Equal(bodyA, bodyB) || !bytes.Contains(bodyA, []byte("\n.dot line\n")) {
		t.Fatalf("bodies differ or were mangled:\n%q\n%q", bodyA, bodyB)
	}
	if !bytes.Contains(a[0], []byte("with ESMTPS (TLS1.3) tls TLS_")) {
		t.Fatalf("Received header does not record TLS:\n%s", a[0])
	}
	// SIGTERM: a clean stop, exit status 0.
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(20 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.Output())
	}
	if !strings.Contains(p.Output(), `msg="message accepted"`) || !strings.Contains(p.Output(), "msg=stopped") {
		t.Fatalf("log lacks the message or the stop:\n%s", p.Output())
	}
}

func TestInteropEximDelivers(t *testing.T) {
	_, addr, data := startBinary(t)
	host, portStr, _ := strings.Cut(addr, ":")
	port, _ := strconv.Atoi(portStr)
	log := interop.EximSend(t, host, port, "sender@x.test", []string{"carol@example.test"},
		"Subject: from exim\n\nhello from Exim\n")
	var delivery string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, " => carol@example.test ") {
			delivery = line
		}
	}
	if delivery == "" {
		t.Fatalf("Exim did not deliver:\n%s", log)
	}
	if !strings.Contains(delivery, " X=TLS1.") || !strings.Contains(delivery, ` C="250 2.0.0 `) {
		t.Fatalf("Exim delivery without TLS or 250 confirmation: %s", delivery)
	}
	msgs := maildirFiles(t, data, "carol@example.test")
	if len(msgs) != 1 || !bytes.Contains(msgs[0], []byte("hello from Exim\n")) || !bytes.Contains(msgs[0], []byte("from client.test")) {
		t.Fatalf("stored message: %q", msgs)
	}
}

func TestInteropQuota(t *testing.T) {
	interop.Need(t, "swaks")
	_, addr, data := startBinary(t, "-quota", "2000")
	host, port, _ := strings.Cut(addr, ":")
	swaks := func(to string, body string) (string, error) {
		return interop.Run(t, time.Minute, "swaks", "--server", host, "--port", port,
			"--from", "s@x.test", "--to", to, "--body", body)
	}
	// Fill the first mailbox past its quota.
	if out, err := swaks("full@example.test", strings.Repeat(strings.Repeat("x", 70)+"\n", 40)); err != nil {
		t.Fatalf("filling message refused: %v\n%s", err, out)
	}
	out, err := swaks("full@example.test", "one more")
	if err == nil || !strings.Contains(out, "<** 452 4.2.2") {
		t.Fatalf("over-quota recipient not refused with 452: %v\n%s", err, out)
	}
	if out, err := swaks("other@example.test", "fits"); err != nil || !strings.Contains(out, "<~  250 2.0.0") && !strings.Contains(out, "<-  250 2.0.0 OK") {
		t.Fatalf("other recipient refused: %v\n%s", err, out)
	}
	if n := len(maildirFiles(t, data, "full@example.test")); n != 1 {
		t.Fatalf("full mailbox holds %d messages", n)
	}
	if n := len(maildirFiles(t, data, "other@example.test")); n != 1 {
		t.Fatalf("other mailbox holds %d messages", n)
	}
}
