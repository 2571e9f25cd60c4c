package main

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/smtpkit/smtpkit/dane"
	"github.com/smtpkit/smtpkit/events"
	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/internal/pkitest"
	"github.com/smtpkit/smtpkit/internal/smtptest"
)

// eventRows counts the rows of the events table by event name.
func eventRows(t *testing.T, path string) map[string]int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT event, count(*) FROM record_delivery GROUP BY event")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var ev string
		var n int
		if err := rows.Scan(&ev, &n); err != nil {
			t.Fatal(err)
		}
		out[ev] = n
	}
	return out
}

func TestEventsSQLiteAndLog(t *testing.T) {
	sink := &smtptest.Sink{Reject: func(stage, arg string) error {
		if stage == "RCPT" && strings.HasPrefix(arg, "nobody@") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	}}
	peer := smtptest.Start(t, sink)
	cfg := relayConfig(t, remoteWorld(t), peer.Addr)
	db := filepath.Join(t.TempDir(), "events.db")
	cfg.EventsDB, cfg.EventsLog = "sqlite:"+db, true
	tm := startMTA(t, cfg)
	sendMessage(t, tm.addr, "sender@example.test", []string{"a@remote.test", "b@remote.test", "nobody@remote.test"}, body)
	tm.waitLog(t, `msg=event`, "event=msg:complete")
	if err := tm.stop(); err != nil { // closes the pooled connection, writes the rows waiting
		t.Fatal(err)
	}
	for _, ev := range []string{"tcp:connect", "smtp:connect", "tcp:close", "msg:delivery", "msg:fail:delivery"} {
		if tm.logs.lines(`msg=event`, "event="+ev) == nil {
			t.Errorf("no %s event logged", ev)
		}
	}
	got := eventRows(t, db)
	if got["msg:delivery"] != 2 || got["msg:fail:delivery"] != 1 || len(got) != 2 {
		t.Fatalf("rows %v", got)
	}
}

func TestEventsDenyConnect(t *testing.T) {
	sink := &smtptest.Sink{}
	peer := smtptest.Start(t, sink)
	cfg := relayConfig(t, remoteWorld(t), peer.Addr)
	cfg.EventsDenyConnect, _ = parsePrefixes("127.0.0.0/8")
	cfg.Retry = []time.Duration{time.Hour}
	tm := startMTA(t, cfg)
	sendMessage(t, tm.addr, "sender@example.test", []string{"a@remote.test"}, body)
	line := tm.waitLog(t, `msg="delivery deferred"`)
	if !strings.Contains(line, "tcp:connect") || !strings.Contains(line, "451 4.4.2") {
		t.Fatalf("deferral: %s", line)
	}
	if len(sink.Messages()) != 0 {
		t.Fatal("connected despite the veto")
	}
}

// A tls:cert veto on a host whose TLS is mandatory (DANE) defers the
// delivery with the veto's reason. (Under opportunistic TLS the client
// engine goes on in plaintext, as Exim does with tls_tempfail_tryclear.)
func TestEventsTLSCertVeto(t *testing.T) {
	leaf := pkitest.NewCA(t, pkitest.ECDSA).Issue(t, pkitest.Leaf{Names: []string{"mx.ee.test"}})
	sink, peer := tlsPeer(t, leaf, nil)
	dns := dnstest.Start(t, dnstest.Zone{Name: "ee.test", Secure: true,
		Text: "@ MX 10 mx\nmx A 127.0.0.1\n" + tlsaPort(t, peer) + "._tcp.mx" + " TLSA " + tlsa(t, leaf.Certificate, 3, 1, 1)})
	cfg := relayConfig(t, dns, peer)
	cfg.DANE = dane.Try
	cfg.Retry = []time.Duration{time.Hour}
	cfg.eventHandlers = []events.Handler{events.HandlerFunc(func(_ context.Context, ev events.Event) error {
		if ev.Name == events.TLSCert && ev.Data == "0" {
			return errors.New("certificate of " + ev.Host + " refused by policy")
		}
		return nil
	})}
	tm := startMTA(t, cfg)
	sendMessage(t, tm.addr, "sender@example.test", []string{"a@ee.test"}, body)
	line := tm.waitLog(t, `msg="delivery deferred"`)
	if !strings.Contains(line, "certificate of mx.ee.test refused by policy") {
		t.Fatalf("deferral: %s", line)
	}
	if len(sink.Messages()) != 0 {
		t.Fatal("delivered despite the veto")
	}
}

// -events-db picks the driver from the name: sqlite:PATH or a postgres://
// URL (neither connects yet), anything else is refused.
func TestEventsDBNames(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, dsn := range []string{"sqlite:" + filepath.Join(t.TempDir(), "e.db"), "postgres://mta@127.0.0.1:1/mail", "postgresql://mta@127.0.0.1:1/mail"} {
		s, err := openEventsDB(dsn, nil)
		if err != nil {
			t.Errorf("%s: %v", dsn, err)
			continue
		}
		if err := s.Close(ctx); err != nil {
			t.Errorf("%s: Close: %v", dsn, err)
		}
	}
	for _, dsn := range []string{"mysql://u@h/x", "sqlite:", "/var/spool/events.db", "Postgres://h/x", "postgres://h:99999999/x"} {
		if s, err := openEventsDB(dsn, nil); err == nil {
			s.Close(ctx)
			t.Errorf("%s accepted", dsn)
		}
	}
}
