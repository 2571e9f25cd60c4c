//go:build interop

package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/dane"
	"github.com/smtpkit/smtpkit/events"
	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/internal/interop"
	"github.com/smtpkit/smtpkit/internal/pkitest"
)

// deliverEvents has an MTA binary deliver n messages of one recipient to
// Exim, the last one refused at RCPT, stops it (which writes the rows
// waiting) and returns its sender domain.
func deliverEvents(t *testing.T, name, db string, exim *interop.Exim, dns string, n int) {
	p, addr, _ := startBinary(t, "-dns", dns, "-remote-port", strconv.Itoa(exim.Port), "-retry", "1s",
		// Exim's smtp_accept_max is 20 connections in all.
		"-max-deliveries", "5", "-events-db", db, "-log-level", "info")
	for i := range n {
		to := fmt.Sprintf("%s-%d@remote.test", name, i)
		if i == n-1 {
			to = "badrcpt@remote.test"
		}
		if err := submit(addr, "sender@"+name+".test", []string{to}, []byte("Subject: events\r\n\r\nbody\r\n")); err != nil {
			t.Error(err)
			return
		}
	}
	// Every recipient has a final result (not counting the DSN for
	// badrcpt, which goes nowhere).
	final := func() int {
		c := 0
		for _, l := range strings.Split(p.Output(), "\n") {
			if strings.Contains(l, `msg="delivery attempt"`) && strings.Contains(l, "@remote.test") &&
				(strings.Contains(l, "result=delivered") || strings.Contains(l, "result=failed")) {
				c++
			}
		}
		return c
	}
	deadline := time.Now().Add(60 * time.Second)
	for final() < n {
		if time.Now().After(deadline) {
			t.Errorf("%s: not every message completed:\n%s", name, p.Output())
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.Signal(syscall.SIGTERM)
	if err := p.Wait(20 * time.Second); err != nil {
		t.Errorf("%s: %v", name, err)
	}
}

func countRows(t *testing.T, driver, dsn string) map[string]int {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT event, sender_domain, count(*) FROM record_delivery GROUP BY event, sender_domain")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var ev, dom string
		var n int
		if err := rows.Scan(&ev, &dom, &n); err != nil {
			t.Fatal(err)
		}
		out[ev+" "+dom] = n
	}
	return out
}

// psqlRows counts the rows per event and sender domain with Debian's
// psql, a reader independent of the sink's driver.
func psqlRows(t *testing.T, url string) map[string]int {
	t.Helper()
	psql := "psql"
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/psql"); len(m) > 0 {
		psql = m[len(m)-1]
	}
	out, err := interop.Run(t, 20*time.Second, psql, "-d", url, "-Atc",
		"SELECT event || ' ' || sender_domain, count(*) FROM record_delivery GROUP BY 1")
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	got := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(l, "|")
		got[k], _ = strconv.Atoi(v)
	}
	return got
}

// Two MTA instances deliver to Exim at once and record in one PostgreSQL;
// the delivery rows match what Exim received.
func TestInteropEventsPostgresTwoMTAs(t *testing.T) {
	url := interop.StartPostgres(t)
	exim := interop.StartExim(t, "")
	dns := mxTo(t)
	const n = 20
	var wg sync.WaitGroup
	for _, name := range []string{"mta1", "mta2"} {
		wg.Go(func() { deliverEvents(t, name, url, exim, dns.Addr(), n) })
	}
	wg.Wait()
	got := psqlRows(t, url)
	received := strings.Count(exim.MainLog(), " <= ")
	if received != 2*(n-1) {
		t.Fatalf("Exim received %d messages", received)
	}
	for _, name := range []string{"mta1", "mta2"} {
		if got["msg:delivery "+name+".test"] != n-1 || got["msg:fail:delivery "+name+".test"] != 1 {
			t.Fatalf("rows %v", got)
		}
	}
}

// SQLite, the embedded default, from one instance.
func TestInteropEventsSQLite(t *testing.T) {
	exim := interop.StartExim(t, "")
	dns := mxTo(t)
	path := filepath.Join(t.TempDir(), "events.db")
	const n = 10
	deliverEvents(t, "mta1", "sqlite:"+path, exim, dns.Addr(), n)
	got := countRows(t, "sqlite", path)
	if received := strings.Count(exim.MainLog(), " <= "); received != n-1 ||
		got["msg:delivery mta1.test"] != n-1 || got["msg:fail:delivery mta1.test"] != 1 {
		t.Fatalf("rows %v, Exim received %d", got, received)
	}
}

// A tls:cert veto on the Exim peer's certificate defers the delivery with
// the veto's reason. The route is DANE-secured (a 3 1 1 record for Exim's
// certificate), so TLS is mandatory and no plaintext fallback follows the
// refused handshake, as with Exim's own tls:cert veto where TLS is
// required.
func TestInteropEventsTLSCertVetoOnExim(t *testing.T) {
	leaf := pkitest.NewCA(t, pkitest.ECDSA).Issue(t, pkitest.Leaf{Names: []string{"mx.ee.test"}})
	exim := eximWithCert(t, leaf, "")
	dns := dnstest.Start(t, dnstest.Zone{Name: "ee.test", Secure: true,
		Text: "@ MX 10 mx\nmx A 127.0.0.1\n" + tlsaPort(t, interop.Addr(exim.Port)) + "._tcp.mx TLSA " + tlsa(t, leaf.Certificate, 3, 1, 1)})
	cfg := relayConfig(t, dns, interop.Addr(exim.Port))
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
	if n := len(exim.Messages()); n != 0 {
		t.Fatalf("Exim received %d messages despite the veto", n)
	}
	if strings.Contains(exim.MainLog(), " <= ") {
		t.Fatalf("Exim accepted a message:\n%s", exim.MainLog())
	}
}
