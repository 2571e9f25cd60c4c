package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSpoolRoundTripAndCrashLeftovers(t *testing.T) {
	sp, err := newSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.writeMessage("A1", "Received: x\r\n", strings.NewReader("Subject: a\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	q := &queued{ID: "A1", From: "s@x.test", Arrived: time.Now().UTC().Truncate(time.Second),
		Rcpts: []*queuedRcpt{{Addr: "r@remote.test", State: statePending}}}
	if err := sp.saveEnvelope(q); err != nil {
		t.Fatal(err)
	}
	// Leftovers of a crash: a message without envelope, a temporary
	// envelope, and an envelope that is not JSON.
	os.WriteFile(sp.msgPath("B2"), []byte("never acknowledged"), 0o640)
	os.WriteFile(sp.envPath("C3")+".tmp", []byte("{"), 0o640)
	os.WriteFile(sp.msgPath("D4"), []byte("x"), 0o640)
	os.WriteFile(sp.envPath("D4"), []byte("not json"), 0o640)

	got, errs := sp.load()
	if len(got) != 1 || got[0].ID != "A1" || got[0].Rcpts[0].Addr != "r@remote.test" || !got[0].Arrived.Equal(q.Arrived) {
		t.Fatalf("loaded %+v", got)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "D4") {
		t.Fatalf("errors %v", errs)
	}
	for _, gone := range []string{sp.msgPath("B2"), sp.envPath("C3") + ".tmp"} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("%s not cleaned up", gone)
		}
	}
	if _, err := os.Stat(sp.envPath("D4") + ".bad"); err != nil {
		t.Error("bad envelope not kept aside")
	}
	f, _ := sp.open("A1")
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "Received: x\r\nSubject: a\r\n\r\nbody\r\n" {
		t.Fatalf("spooled %q", b)
	}
	if err := sp.remove("A1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := sp.load(); len(got) != 0 {
		t.Fatal("removed entry still loads")
	}
}

func TestBuildDSN(t *testing.T) {
	q := &queued{ID: "Q1", From: "sender@x.test", Arrived: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	failed := []*queuedRcpt{
		{Addr: "bad@remote.test", State: stateFailed, LastReply: "550 5.1.1 No such\n user", RemoteMTA: "mx.remote.test"},
		{Addr: "old@remote.test", State: stateFailed, LastReply: "retry time exceeded (5d); last: 451 4.4.2 x"},
	}
	orig := "Received: a\r\nSubject: original\r\nFrom: sender@x.test\r\n\r\nsecret body\r\n"
	dsn, err := buildDSN("mx.test", q, failed, strings.NewReader(orig), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(dsn))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Auto-Submitted") != "auto-replied" || !strings.Contains(msg.Header.Get("From"), "MAILER-DAEMON@mx.test") {
		t.Fatalf("headers %v", msg.Header)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("content type %q %v", mt, params)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var parts []string
	var types []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		parts = append(parts, string(b))
		types = append(types, p.Header.Get("Content-Type"))
	}
	if len(parts) != 3 || types[1] != "message/delivery-status" || types[2] != "text/rfc822-headers" {
		t.Fatalf("parts %v", types)
	}
	status := parts[1]
	for _, want := range []string{"Reporting-MTA: dns; mx.test", "Final-Recipient: rfc822; bad@remote.test",
		"Action: failed", "Status: 5.1.1", "Remote-MTA: dns; mx.remote.test", "Diagnostic-Code: smtp; 550 5.1.1 No such user",
		"Final-Recipient: rfc822; old@remote.test", "Status: 4.4.7"} {
		if !strings.Contains(status, want) {
			t.Errorf("delivery-status lacks %q:\n%s", want, status)
		}
	}
	if !strings.Contains(parts[2], "Subject: original") || strings.Contains(parts[2], "secret body") {
		t.Fatalf("returned headers %q", parts[2])
	}
}

func TestDSNStatus(t *testing.T) {
	for reply, want := range map[string]string{
		"550 5.7.1 no":    "5.7.1",
		"554 no code":     "5.0.0",
		"452 4.2.2 full":  "4.2.2",
		"garbage":         "5.0.0",
		"550 9.9.9 weird": "5.0.0",
	} {
		if got := dsnStatus(reply); got != want {
			t.Errorf("dsnStatus(%q) = %s, want %s", reply, got, want)
		}
	}
}

// TestQueueRetriesExpiresAndNotifies drives the queue with a scripted
// delivery step: the spool and the retry/DSN bookkeeping are what is under
// test here; relay_test.go covers delivery over real SMTP.
func TestQueueRetriesExpiresAndNotifies(t *testing.T) {
	sp, _ := newSpool(t.TempDir())
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	attempts := map[string]int{}
	notified := make(chan []string, 4)
	qu := &queue{
		spool: sp, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		retry: []time.Duration{time.Minute}, maxAge: 3 * time.Minute, workers: 2, now: now,
		msgs: map[string]*queued{}, running: map[string]bool{}, wake: make(chan struct{}, 1),
		attempt: func(_ context.Context, q *queued, rs []*queuedRcpt) {
			mu.Lock()
			defer mu.Unlock()
			for _, r := range rs {
				attempts[r.Addr]++
				switch r.Addr {
				case "ok@r.test":
					r.State = stateDelivered
				case "bad@r.test":
					r.State, r.LastReply = stateFailed, "550 5.1.1 unknown"
				default:
					r.LastReply = "451 4.3.0 later"
				}
			}
		},
		notify: func(q *queued, failed []*queuedRcpt) error {
			var a []string
			for _, r := range failed {
				a = append(a, r.Addr)
			}
			notified <- a
			return nil
		},
	}
	sp.writeMessage("M1", "", strings.NewReader("x\r\n"))
	q := &queued{ID: "M1", From: "s@x.test", Arrived: now(), Rcpts: []*queuedRcpt{
		{Addr: "ok@r.test", State: statePending}, {Addr: "bad@r.test", State: statePending}, {Addr: "slow@r.test", State: statePending}}}
	sp.saveEnvelope(q)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { qu.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	qu.add(q)

	if got := <-notified; strings.Join(got, ",") != "bad@r.test" {
		t.Fatalf("first DSN for %v", got)
	}
	// Advance past each retry until the message expires.
	for i := 0; i < 4; i++ {
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		clock = clock.Add(time.Minute + time.Second)
		mu.Unlock()
		qu.poke()
	}
	select {
	case got := <-notified:
		if strings.Join(got, ",") != "slow@r.test" {
			t.Fatalf("expiry DSN for %v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no DSN on expiry")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(sp.dir, "M1.env")); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("finished message not removed from the spool")
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if attempts["ok@r.test"] != 1 || attempts["bad@r.test"] != 1 || attempts["slow@r.test"] < 3 {
		t.Fatalf("attempts %v", attempts)
	}
}
