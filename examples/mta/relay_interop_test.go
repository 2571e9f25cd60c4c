//go:build interop

package main

import (
	"fmt"
	"net/smtp"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/internal/interop"
)

// mxTo publishes remote.test with its MX on loopback, where Exim listens.
func mxTo(t *testing.T) *dnstest.Server {
	return dnstest.Start(t, dnstest.Zone{Name: "remote.test", Text: `
		@   MX 10 mx
		mx  A  127.0.0.1`})
}

func relayFlags(dns *dnstest.Server, exim *interop.Exim) []string {
	return []string{"-dns", dns.Addr(), "-remote-port", strconv.Itoa(exim.Port), "-retry", "1s"}
}

func TestInteropRelayToExim(t *testing.T) {
	exim := interop.StartExim(t, "")
	dns := mxTo(t)
	_, addr, data := startBinary(t, relayFlags(dns, exim)...)
	rcpts := []string{"one@remote.test", "two@remote.test", "three@remote.test", "badrcpt@remote.test"}
	if err := submit(addr, "sender@example.test", rcpts,
		[]byte("Subject: relay\r\n\r\nrelayed body\r\n")); err != nil {
		t.Fatal(err)
	}
	msgs := exim.WaitMessages(3, 30*time.Second)
	for _, m := range msgs {
		if !strings.Contains(m, "relayed body\n") {
			t.Fatalf("body not intact: %q", m)
		}
	}
	// One transaction, so one connection, over TLS, for the three.
	var received []string
	for _, line := range strings.Split(exim.MainLog(), "\n") {
		if strings.Contains(line, " <= sender@example.test ") {
			received = append(received, line)
		}
	}
	if len(received) != 1 || !strings.Contains(received[0], " X=TLS1.") ||
		!strings.Contains(received[0], "for one@remote.test two@remote.test three@remote.test") {
		t.Fatalf("Exim's receive lines: %q", received)
	}
	// badrcpt was refused at RCPT: the local sender gets a DSN.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if dsn := maildirFilesMaybe(data, "sender@example.test"); len(dsn) == 1 {
			if !strings.Contains(string(dsn[0]), "Final-Recipient: rfc822; badrcpt@remote.test") ||
				!strings.Contains(string(dsn[0]), "Action: failed") {
				t.Fatalf("DSN: %s", dsn[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no DSN for badrcpt")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func maildirFilesMaybe(data, mailbox string) [][]byte {
	dir := filepath.Join(data, "maildir", mailbox, "new")
	entries, _ := os.ReadDir(dir)
	var out [][]byte
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
			out = append(out, b)
		}
	}
	return out
}

func TestInteropEximToMTAToExim(t *testing.T) {
	exim := interop.StartExim(t, "")
	dns := mxTo(t)
	_, addr, _ := startBinary(t, relayFlags(dns, exim)...)
	host, portStr, _ := strings.Cut(addr, ":")
	port, _ := strconv.Atoi(portStr)
	body := "line one\n.leading dot\n\ttabbed line\nlast line\n"
	log := interop.EximSend(t, host, port, "origin@elsewhere.test", []string{"final@remote.test"},
		"Subject: two hops\n\n"+body)
	if !strings.Contains(log, "=> final@remote.test") {
		t.Fatalf("first Exim did not hand over:\n%s", log)
	}
	msgs := exim.WaitMessages(1, 30*time.Second)
	_, got, ok := strings.Cut(msgs[0], "\n\n")
	if !ok || got != body {
		t.Fatalf("body after two hops:\n%q\nwant\n%q", got, body)
	}
}

// TestInteropCrashLosesNothing kills the MTA with SIGKILL while it accepts
// 200 messages from parallel clients and relays them to Exim, restarts it,
// and checks that every message that got a 250 reached Exim.
func TestInteropCrashLosesNothing(t *testing.T) {
	exim := interop.StartExim(t, "")
	dns := mxTo(t)
	bin := interop.Build(t, ".")
	data := t.TempDir()
	addr := interop.Addr(interop.FreePort(t))
	args := append([]string{"-listen", addr, "-data", data, "-hostname", "mx.test",
		"-local-domains", "example.test", "-log-level", "info"}, relayFlags(dns, exim)...)
	start := func() *interop.Process {
		p := interop.Start(t, bin, args...)
		interop.WaitPort(t, addr, 10*time.Second)
		return p
	}
	p := start()

	const total, workers = 200, 10
	var mu sync.Mutex
	acked := map[int]bool{}
	var restarted sync.WaitGroup
	restarted.Add(1)
	var killOnce sync.Once
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < total; i += workers {
				msg := fmt.Sprintf("Subject: crash-%d\r\n\r\nbody %d\r\n", i, i)
				for try := 0; try < 50; try++ {
					err := submit(addr, "sender@example.test", []string{fmt.Sprintf("r%d@remote.test", i)}, []byte(msg))
					if err == nil {
						mu.Lock()
						acked[i] = true
						n := len(acked)
						mu.Unlock()
						if n == total/2 {
							killOnce.Do(func() {
								// Mid-stream: other clients are in their
								// transactions, the queue is delivering.
								p.Signal(syscall.SIGKILL)
								p.Wait(10 * time.Second)
								p = start()
								restarted.Done()
							})
						}
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
		}(w)
	}
	wg.Wait()
	restarted.Wait()
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	if n != total {
		t.Fatalf("only %d of %d messages were acknowledged even with retries", n, total)
	}
	subject := regexp.MustCompile(`Subject: crash-(\d+)\n`)
	deadline := time.Now().Add(90 * time.Second)
	for {
		seen := map[int]int{}
		for _, m := range exim.Messages() {
			if sm := subject.FindStringSubmatch(m); sm != nil {
				i, _ := strconv.Atoi(sm[1])
				seen[i]++
			}
		}
		var missing []int
		for i := range acked {
			if seen[i] == 0 {
				missing = append(missing, i)
			}
		}
		if len(missing) == 0 {
			dups := 0
			for _, c := range seen {
				if c > 1 {
					dups++
				}
			}
			t.Logf("all %d acknowledged messages delivered; %d duplicated by the crash", n, dups)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d acknowledged messages lost: %v", len(missing), missing)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// submit sends one message in plaintext (net/smtp's SendMail would insist
// on verifying the MTA's self-signed certificate).
func submit(addr, from string, to []string, msg []byte) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
