//go:build interop

package client

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/interop"
)

// TestInteropSendBatchExim sends a batch to Exim 4.96 (PIPELINING and
// CHUNKING advertised): messages pipelined behind each other over one
// connection, one with a recipient refused at RCPT and one whose every
// recipient is, after which the next message must still carry its own
// sender. Exim's log shows each message received once, from its sender,
// with CHUNKING, on one connection.
func TestInteropSendBatchExim(t *testing.T) {
	exim := interop.StartExim(t, "")
	c := dialT(t, interop.Addr(exim.Port), &Options{TLSPolicy: TLSNone})
	for _, kw := range []string{"PIPELINING", "CHUNKING"} {
		if _, ok := c.Extension(kw); !ok {
			t.Fatalf("Exim does not offer %s", kw)
		}
	}
	const n = 40
	var msgs []Message
	want := 0
	for i := range n {
		to := []string{fmt.Sprintf("u%d@peer.test", i), fmt.Sprintf("v%d@peer.test", i)}
		switch i {
		case 7:
			to[1] = "badrcpt@peer.test"
		case 8:
			to = []string{"badrcpt@peer.test"}
		}
		if i != 8 {
			want++ // Exim stores a copy per accepted recipient
			if i != 7 {
				want++
			}
		}
		body := fmt.Sprintf("From: s%d@x.test\r\nSubject: batch %d\r\n\r\n%s", i, i,
			strings.Repeat(fmt.Sprintf("line of message %d\r\n", i), 10+i*37))
		msgs = append(msgs, Message{&Envelope{From: fmt.Sprintf("s%d@x.test", i), To: to}, strings.NewReader(body)})
	}
	results, err := c.SendBatch(testCtx(t), msgs)
	if err != nil {
		t.Fatalf("SendBatch: %v", err)
	}
	for i, res := range results {
		wantStatus := fmt.Sprintf("u%d@peer.test=accepted 250,v%[1]d@peer.test=accepted 250", i)
		switch i {
		case 7:
			wantStatus = "u7@peer.test=accepted 250,badrcpt@peer.test=permfailed 550"
		case 8:
			wantStatus = "badrcpt@peer.test=permfailed 550"
		}
		if got := statuses(res); got != wantStatus {
			t.Errorf("message %d: %s, want %s", i, got, wantStatus)
		}
	}
	if c.Messages() != n {
		t.Errorf("Messages() = %d, want %d", c.Messages(), n)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got := exim.WaitMessages(want, 20*time.Second)
	if len(got) != want {
		t.Errorf("Exim stored %d copies, want %d", len(got), want)
	}
	log := exim.MainLog()
	for end := time.Now().Add(5 * time.Second); !strings.Contains(log, "closed by QUIT") && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
		log = exim.MainLog()
	}
	for i := range n {
		received := strings.Count(log, fmt.Sprintf("<= s%d@x.test ", i))
		if i == 8 {
			if received != 0 {
				t.Errorf("message 8 (no recipient) received %d times", received)
			}
			continue
		}
		if received != 1 {
			t.Errorf("message %d received %d times", i, received)
		}
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, " <= s") && !strings.Contains(line, " K ") {
			t.Errorf("not received with CHUNKING (K): %s", line)
		}
	}
	// Exim's log of the message after the refused one names its own
	// sender and recipients.
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "<= s9@x.test ") && !strings.Contains(line, "for u9@peer.test v9@peer.test") {
			t.Errorf("message 9: %s", line)
		}
	}
	if conns := strings.Count(log, "SMTP connection from (client.test)"); conns != 1 {
		t.Errorf("%d connections, want 1", conns)
	}
}
