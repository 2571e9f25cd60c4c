package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// testMTA is an MTA serving on a loopback port for one test.
type testMTA struct {
	*mta
	addr string
	data string
	stop func() error // cancels and waits for Serve to return
	logs *logBuffer   // what it logged
}

func testConfig(t *testing.T) config {
	cfg, err := parseFlags([]string{"-data", t.TempDir(), "-hostname", "mx.test",
		"-local-domains", "mx.test,example.test", "-listen", "127.0.0.1:0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func startMTA(t *testing.T, cfg config) *testMTA {
	t.Helper()
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(testWriter{t, logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := newMTA(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- m.Serve(ctx, l) }()
	stopped := false
	var serveErr error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			serveErr = <-errc
		}
		return serveErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &testMTA{mta: m, addr: l.Addr().String(), data: cfg.DataDir, stop: stop, logs: logs}
}

// testWriter sends log lines to t.Log while the test runs, and keeps them.
type testWriter struct {
	t    *testing.T
	keep *logBuffer
}

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	w.keep.mu.Lock()
	w.keep.b.Write(p)
	w.keep.mu.Unlock()
	return len(p), nil
}

// logBuffer holds an MTA's log lines for a test to search.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// lines returns the lines holding every one of needles.
func (l *logBuffer) lines(needles ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
next:
	for _, line := range strings.Split(l.b.String(), "\n") {
		for _, n := range needles {
			if !strings.Contains(line, n) {
				continue next
			}
		}
		out = append(out, line)
	}
	return out
}

// messages returns the files in a mailbox's sub folder, by name.
func (tm *testMTA) messages(t *testing.T, mailbox, sub string) map[string][]byte {
	t.Helper()
	dir := filepath.Join(tm.data, "maildir", mailbox, sub)
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func only(t *testing.T, msgs map[string][]byte) (string, []byte) {
	t.Helper()
	if len(msgs) != 1 {
		t.Fatalf("want 1 message, have %d", len(msgs))
	}
	for k, v := range msgs {
		return k, v
	}
	return "", nil
}

func greet(t *testing.T, addr string) *smtptest.Client {
	t.Helper()
	c := smtptest.Dial(t, addr)
	c.Expect(220)
	c.MustCmd("EHLO client.test", 250)
	return c
}

func expectCode(t *testing.T, rep smtptest.Reply, code int, enhanced string) {
	t.Helper()
	if rep.Err != nil || rep.Code != code || !strings.HasPrefix(rep.Text(), enhanced) {
		t.Fatalf("want %d %s, got %v", code, enhanced, rep)
	}
}

const body = "Subject: hello\r\n\r\nline one\r\n..leading dot\r\nlast\r\n"

func TestDeliverTwoRecipientsWithSTARTTLS(t *testing.T) {
	tm := startMTA(t, testConfig(t))
	c := greet(t, tm.addr)
	c.StartTLS(&tls.Config{InsecureSkipVerify: true, ServerName: "mx.test"})
	state := c.Conn().(*tls.Conn).ConnectionState()
	if cert := state.PeerCertificates[0]; cert.VerifyHostname("mx.test") != nil {
		t.Fatalf("generated certificate does not name mx.test: %v", cert.DNSNames)
	}
	ehlo := c.MustCmd("EHLO client.test", 250)
	if strings.Contains(ehlo.Text(), "STARTTLS") {
		t.Fatal("STARTTLS offered twice")
	}
	c.MustCmd("MAIL FROM:<sender@x.test>", 250)
	c.MustCmd("RCPT TO:<Alice@example.test>", 250)
	c.MustCmd("RCPT TO:<bob@MX.test>", 250)
	c.MustCmd("RCPT TO:<alice@example.test>", 250) // same mailbox: one copy
	c.MustCmd("DATA", 354)
	c.Write(body + ".\r\n")
	c.Expect(250)
	c.MustCmd("QUIT", 221)

	nameA, a := only(t, tm.messages(t, "alice@example.test", "new"))
	nameB, b := only(t, tm.messages(t, "bob@mx.test", "new"))
	if !bytes.Equal(a, b) || nameA != nameB {
		t.Fatalf("copies differ:\n%s\n%s", a, b)
	}
	if !strings.HasSuffix(nameA, fmt.Sprintf(",S=%d", len(a))) {
		t.Fatalf("name %s does not carry the size %d", nameA, len(a))
	}
	hdr, rest, ok := strings.Cut(string(a), "\n\t")
	if !ok || !strings.HasPrefix(hdr, "Received: from client.test (") || !strings.Contains(hdr, "[127.0.0.1])") {
		t.Fatalf("Received header: %q", a)
	}
	if !strings.Contains(rest, "by mx.test (smtpkit) with ESMTPS (TLS1.3) tls TLS_") {
		t.Fatalf("Received header lacks ESMTPS and the cipher: %q", a)
	}
	if strings.Contains(rest, "for <") {
		t.Fatal("Received names a recipient of a multi-recipient message")
	}
	wantBody := "Subject: hello\n\nline one\n.leading dot\nlast\n"
	if !strings.HasSuffix(string(a), "\n"+wantBody) {
		t.Fatalf("body not stored with LF line ends and dots unstuffed:\n%q", a)
	}
	if tmp := tm.messages(t, "alice@example.test", "tmp"); len(tmp) != 0 {
		t.Fatalf("tmp/ not empty: %v", tmp)
	}
}

func TestReceivedPlainSingleRecipient(t *testing.T) {
	tm := startMTA(t, testConfig(t))
	c := greet(t, tm.addr)
	c.MustCmd("MAIL FROM:<>", 250)
	c.MustCmd("RCPT TO:<carol@example.test>", 250)
	c.MustCmd("DATA", 354)
	c.Write(body + ".\r\n")
	c.Expect(250)
	_, msg := only(t, tm.messages(t, "carol@example.test", "new"))
	if !strings.Contains(string(msg), "with ESMTP\n\tid ") || !strings.Contains(string(msg), "\tfor <carol@example.test>;\n\t") {
		t.Fatalf("Received header: %q", msg)
	}
}

func TestNonLocalAndMailboxList(t *testing.T) {
	cfg := testConfig(t)
	list := filepath.Join(t.TempDir(), "mailboxes")
	os.WriteFile(list, []byte("# users\nAlice@Example.test\n  bob@mx.test # the second\n\n"), 0o644)
	cfg.Mailboxes = list
	cfg.RelayFrom = nil // 127.0.0.1 may not relay here
	tm := startMTA(t, cfg)
	c := greet(t, tm.addr)
	c.MustCmd("MAIL FROM:<s@x.test>", 250)
	expectCode(t, c.Cmd("RCPT TO:<someone@elsewhere.test>"), 550, "5.7.1")
	expectCode(t, c.Cmd("RCPT TO:<nobody@example.test>"), 550, "5.1.1")
	c.MustCmd("RCPT TO:<alice@example.test>", 250)
	c.MustCmd("RCPT TO:<BOB@mx.test>", 250)
	c.MustCmd("RCPT TO:<PostMaster@mx.test>", 250)
	expectCode(t, c.Cmd(`RCPT TO:<"a/b"@example.test>`), 553, "5.1.3")
}

func TestLoadMailboxesRejectsGarbage(t *testing.T) {
	list := filepath.Join(t.TempDir(), "mailboxes")
	os.WriteFile(list, []byte("ok@x.test\nnot an address\n"), 0o644)
	if _, err := loadMailboxes(list); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Fatalf("err = %v", err)
	}
	if _, err := loadMailboxes(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestQuota(t *testing.T) {
	cfg := testConfig(t)
	cfg.Quota = 1000
	tm := startMTA(t, cfg)
	send := func(c *smtptest.Client, rcpt string, size int) {
		t.Helper()
		c.MustCmd("MAIL FROM:<s@x.test>", 250)
		c.MustCmd("RCPT TO:<"+rcpt+">", 250)
		c.MustCmd("DATA", 354)
		c.Write("Subject: fill\r\n\r\n" + strings.Repeat("x", size) + "\r\n.\r\n")
		c.Expect(250)
	}
	c := greet(t, tm.addr)
	// Under quota: accepted, and this one takes the mailbox over it.
	send(c, "full@example.test", 1200)
	c.MustCmd("MAIL FROM:<s@x.test>", 250)
	expectCode(t, c.Cmd("RCPT TO:<full@example.test>"), 452, "4.2.2")
	c.MustCmd("RCPT TO:<other@example.test>", 250)
	c.MustCmd("DATA", 354)
	c.Write(body + ".\r\n")
	c.Expect(250)
	only(t, tm.messages(t, "other@example.test", "new"))
	only(t, tm.messages(t, "full@example.test", "new"))

	// A declared SIZE that would overfill is refused up front.
	c.MustCmd("MAIL FROM:<s@x.test> SIZE=900", 250)
	expectCode(t, c.Cmd("RCPT TO:<other@example.test>"), 452, "4.2.2")
	c.MustCmd("RSET", 250)

	// The per-mailbox quota file overrides -quota: 0 lifts it.
	os.WriteFile(filepath.Join(tm.data, "maildir", "full@example.test", quotaFile), []byte("0\n"), 0o644)
	send(c, "full@example.test", 10)
	// A file that is not a number defers, rather than guessing.
	os.WriteFile(filepath.Join(tm.data, "maildir", "full@example.test", quotaFile), []byte("lots"), 0o644)
	c.MustCmd("MAIL FROM:<s@x.test>", 250)
	expectCode(t, c.Cmd("RCPT TO:<full@example.test>"), 451, "4.3.5")
}

func TestCommandLineTooLong(t *testing.T) {
	tm := startMTA(t, testConfig(t))
	c := greet(t, tm.addr)
	rep := c.Cmd("MAIL FROM:<" + strings.Repeat("a", 2100) + "@x.test>")
	expectCode(t, rep, 500, "5.4.0")
	if rep := c.ReadReply(); rep.Err == nil {
		t.Fatalf("connection left open: %v", rep)
	}
}

func TestDataLineTooLong(t *testing.T) {
	tm := startMTA(t, testConfig(t))
	c := greet(t, tm.addr)
	c.MustCmd("MAIL FROM:<s@x.test>", 250)
	c.MustCmd("RCPT TO:<long@example.test>", 250)
	c.MustCmd("DATA", 354)
	c.Write("Subject: x\r\n\r\n" + strings.Repeat("y", 2500) + "\r\n.\r\n")
	expectCode(t, c.ReadReply(), 500, "5.5.2")
	if n := len(tm.messages(t, "long@example.test", "new")) + len(tm.messages(t, "long@example.test", "tmp")); n != 0 {
		t.Fatalf("%d files left behind", n)
	}
}

func TestMaxSize(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxSize = 1024
	tm := startMTA(t, cfg)
	c := greet(t, tm.addr)
	if ehlo := c.MustCmd("EHLO again.test", 250); !strings.Contains(ehlo.Text(), "SIZE 1024") {
		t.Fatalf("SIZE not advertised: %v", ehlo)
	}
	expectCode(t, c.Cmd("MAIL FROM:<s@x.test> SIZE=2048"), 552, "5.3.4")
	c.MustCmd("MAIL FROM:<s@x.test>", 250)
	c.MustCmd("RCPT TO:<big@example.test>", 250)
	c.MustCmd("DATA", 354)
	c.Write("Subject: x\r\n\r\n" + strings.Repeat(strings.Repeat("z", 70)+"\r\n", 40) + ".\r\n")
	expectCode(t, c.ReadReply(), 552, "5.3.4")
	// The session goes on after the refusal.
	c.MustCmd("NOOP", 250)
	if n := len(tm.messages(t, "big@example.test", "new")) + len(tm.messages(t, "big@example.test", "tmp")); n != 0 {
		t.Fatalf("%d files left behind", n)
	}
}

func TestSilentClientIsCut(t *testing.T) {
	cfg := testConfig(t)
	cfg.IdleTimeout = 300 * time.Millisecond
	tm := startMTA(t, cfg)
	c := greet(t, tm.addr)
	c.MustCmd("MAIL FROM:<s@x.test>", 250)
	c.MustCmd("RCPT TO:<silent@example.test>", 250)
	c.MustCmd("DATA", 354)
	c.Write("Subject: half\r\n\r\nhalf a message")
	start := time.Now()
	// The server gives up on the message, then on the connection.
	for {
		rep := c.ReadReply()
		if rep.Err != nil {
			break
		}
		if rep.Code == 250 {
			t.Fatalf("half a message accepted: %v", rep)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cut after %v", d)
	}
	if n := len(tm.messages(t, "silent@example.test", "new")) + len(tm.messages(t, "silent@example.test", "tmp")); n != 0 {
		t.Fatalf("%d files left behind", n)
	}
}

func TestRecipientLimit(t *testing.T) {
	tm := startMTA(t, testConfig(t))
	c := greet(t, tm.addr)
	// Pipelined, as RFC 2920 allows: 1000 RCPTs in one write.
	var b strings.Builder
	b.WriteString("MAIL FROM:<s@x.test>\r\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, "RCPT TO:<r%d@example.test>\r\n", i)
	}
	c.Write(b.String())
	c.Expect(250)
	for i := 0; i < 1000; i++ {
		rep := c.ReadReply()
		if i < defaultMaxRecipients {
			expectCode(t, rep, 250, "2.0.0")
		} else {
			expectCode(t, rep, 452, "4.5.3")
		}
	}
	c.MustCmd("DATA", 354)
	c.Write(body + ".\r\n")
	c.Expect(250)
	only(t, tm.messages(t, "r99@example.test", "new"))
	if got := tm.messages(t, "r100@example.test", "new"); len(got) != 0 {
		t.Fatal("refused recipient got a copy")
	}
}

func TestNonASCIIAddressWithoutSMTPUTF8(t *testing.T) {
	tm := startMTA(t, testConfig(t))
	c := greet(t, tm.addr)
	expectCode(t, c.Cmd("MAIL FROM:<jörg@x.test>"), 553, "5.6.7")
	c.MustCmd("MAIL FROM:<s@x.test>", 250)
	expectCode(t, c.Cmd("RCPT TO:<jörg@example.test>"), 553, "5.6.7")
	expectCode(t, c.Cmd("RCPT TO:<user@exämple.test>"), 553, "5.6.7")
	if rep := c.Cmd("MAIL FROM:<s@x.test> SMTPUTF8"); rep.Code/100 != 5 {
		t.Fatalf("SMTPUTF8 accepted without being offered: %v", rep)
	}
}

func TestShutdownKeepsAcknowledgedMail(t *testing.T) {
	cfg := testConfig(t)
	cfg.ShutdownGrace = 200 * time.Millisecond
	tm := startMTA(t, cfg)
	c := greet(t, tm.addr)
	c.MustCmd("MAIL FROM:<s@x.test>", 250)
	c.MustCmd("RCPT TO:<kept@example.test>", 250)
	c.MustCmd("DATA", 354)
	c.Write(body + ".\r\n")
	c.Expect(250)
	// A second transaction is in flight when the signal comes.
	c.MustCmd("MAIL FROM:<s@x.test>", 250)
	c.MustCmd("RCPT TO:<cut@example.test>", 250)
	c.MustCmd("DATA", 354)
	c.Write("Subject: cut\r\n\r\npart")
	if err := tm.stop(); err != nil {
		t.Fatal(err)
	}
	only(t, tm.messages(t, "kept@example.test", "new"))
	if n := len(tm.messages(t, "cut@example.test", "new")) + len(tm.messages(t, "cut@example.test", "tmp")); n != 0 {
		t.Fatalf("%d files of the cut message left", n)
	}
	if _, err := net.DialTimeout("tcp", tm.addr, time.Second); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

func TestBDAT(t *testing.T) {
	tm := startMTA(t, testConfig(t))
	c := greet(t, tm.addr)
	c.MustCmd("MAIL FROM:<s@x.test>", 250)
	c.MustCmd("RCPT TO:<chunk@example.test>", 250)
	part1, part2 := "Subject: chunks\r\n\r\n", ".not stuffed\r\n"
	c.Write(fmt.Sprintf("BDAT %d\r\n%s", len(part1), part1))
	c.Expect(250)
	c.Write(fmt.Sprintf("BDAT %d LAST\r\n%s", len(part2), part2))
	c.Expect(250)
	_, msg := only(t, tm.messages(t, "chunk@example.test", "new"))
	if !strings.HasSuffix(string(msg), "\nSubject: chunks\n\n.not stuffed\n") {
		t.Fatalf("BDAT message: %q", msg)
	}
}
