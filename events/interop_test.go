//go:build interop

package events_test

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/client"
	"github.com/smtpkit/smtpkit/events"
	"github.com/smtpkit/smtpkit/events/sqlsink"
	"github.com/smtpkit/smtpkit/events/sqlsink/postgres"
	"github.com/smtpkit/smtpkit/events/sqlsink/sqlite"
	"github.com/smtpkit/smtpkit/internal/interop"
)

// The real client engine delivers to Exim with a tls:cert veto on Exim's
// certificate: the delivery is refused with the veto's reason, and no
// message reaches Exim. Without the veto the same delivery goes through
// under TLS.
func TestInteropEximTLSCertVeto(t *testing.T) {
	exim := interop.StartExim(t, "")
	addr := interop.Addr(exim.Port)
	rec := &recorder{}
	em := quiet()
	veto := true
	em.Handler = events.Chain(rec, events.HandlerFunc(func(_ context.Context, ev events.Event) error {
		if veto && ev.Name == events.TLSCert && ev.Data == "0" {
			return fmt.Errorf("certificate %q of %s not trusted by policy", ev.PeerCert.Subject.CommonName, ev.Host)
		}
		return nil
	}))
	ctx := events.NewContext(ctxT(t), events.Event{MessageID: "tls-veto", Sender: "a@x.test", Host: "peer.test"})
	opts := func() *client.Options {
		return &client.Options{
			Hostname:  "client.test",
			Dialer:    em.Dialer(nil),
			TLSPolicy: client.TLSRequired,
			// Exim's generated certificate verifies against nothing:
			// opportunistic TLS, with the decision left to the event.
			TLSConfig: &tls.Config{ServerName: "peer.test", InsecureSkipVerify: true, VerifyConnection: em.VerifyConnection(ctx, nil)},
		}
	}

	_, err := client.Dial(ctx, addr, opts())
	var ve *events.VetoError
	if !errors.As(err, &ve) || ve.Event != events.TLSCert || !strings.Contains(err.Error(), "not trusted by policy") {
		t.Fatalf("Dial: %v, want the tls:cert veto", err)
	}
	em.HostDefer(ctx, err)
	evs := rec.events()
	last := evs[len(evs)-1]
	if last.Name != events.MsgHostDefer || !strings.Contains(last.Data, "not trusted by policy") || last.MessageID != "tls-veto" {
		t.Fatalf("msg:host:defer %+v", last)
	}
	want := []string{"tcp:connect", "smtp:connect", "tls:cert", "tcp:close", "msg:host:defer"}
	if got := rec.names(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if !strings.Contains(evs[1].Data, "220 peer.test ESMTP Exim") {
		t.Fatalf("banner %q", evs[1].Data)
	}

	veto = false
	c, err := client.Dial(ctx, addr, opts())
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Send(ctx, &client.Envelope{From: "a@x.test", To: []string{"b@y.test"}}, strings.NewReader("Subject: t\r\n\r\nt\r\n"))
	c.Close()
	if err != nil || res.Recipients[0].Status != client.Accepted {
		t.Fatalf("delivery without the veto: %v %+v", err, res)
	}
	if msgs := exim.WaitMessages(1, 10*time.Second); len(msgs) != 1 {
		t.Fatalf("exim holds %d messages", len(msgs))
	}
	if log := exim.MainLog(); strings.Count(log, " <= ") != 1 || !strings.Contains(log, "X=TLS") {
		t.Fatalf("exim log:\n%s", log)
	}
}

// instance is one MTA's delivery run: n messages of one recipient each
// over one reused connection to addr, one refused recipient, and one
// attempt at a port where nothing listens.
func instance(t *testing.T, name string, h events.Handler, addr string, n int) {
	em := &events.Emitter{Handler: h, Logger: discard}
	ctx := ctxT(t)
	dctx := events.NewContext(ctx, events.Event{Transport: "remote_smtp", Host: "peer.test"})
	c, err := client.Dial(dctx, addr, &client.Options{Hostname: name + ".test", Dialer: em.Dialer(nil), TLSPolicy: client.TLSNone})
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	defer c.Close()
	for i := range n {
		id := fmt.Sprintf("%s-%04d", name, i)
		to := fmt.Sprintf("user%d@y.test", i)
		if i == n-1 {
			to = "badrcpt@y.test" // Exim refuses it at RCPT
		}
		mctx := events.NewContext(ctx, events.Event{MessageID: id, Sender: "sender@" + name + ".test", Transport: "remote_smtp", Host: "peer.test"})
		res, err := c.Send(mctx, &client.Envelope{From: "sender@" + name + ".test", To: []string{to}}, strings.NewReader("Subject: "+id+"\r\n\r\nx\r\n"))
		for _, r := range res.Recipients {
			em.Recipient(mctx, r.Address, r.Reply)
		}
		if err != nil {
			em.HostDefer(mctx, err)
			t.Errorf("%s: %v", id, err)
			return
		}
	}
	// A deferral: connection refused.
	dead := interop.Addr(interop.FreePort(t))
	mctx := events.NewContext(ctx, events.Event{MessageID: name + "-dead", Sender: "sender@" + name + ".test"})
	if _, err := client.Dial(mctx, dead, &client.Options{Dialer: em.Dialer(nil)}); err != nil {
		em.HostDefer(mctx, err)
	} else {
		t.Errorf("%s: connected to %s", name, dead)
	}
}

func TestInteropPostgresTwoWriters(t *testing.T) {
	pg := startPostgres(t)
	exim := interop.StartExim(t, "")
	const n = 25
	opts := &sqlsink.Options{BatchSize: 7, FlushInterval: 20 * time.Millisecond, RetryInterval: 50 * time.Millisecond, Logger: discard}
	var sinks []*sqlsink.Sink
	for range 2 {
		s, err := postgres.Open(pg, opts)
		if err != nil {
			t.Fatal(err)
		}
		sinks = append(sinks, s)
	}
	var wg sync.WaitGroup
	for i, s := range sinks {
		wg.Go(func() { instance(t, "mta"+strconv.Itoa(i+1), s, interop.Addr(exim.Port), n) })
	}
	wg.Wait()
	exim.WaitMessages(2*(n-1), 20*time.Second)
	for _, s := range sinks {
		if err := s.Close(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if st := s.Stats(); st.Written != uint64(n+1) || st.Dropped != 0 {
			t.Fatalf("sink stats %+v", st)
		}
	}

	counts := psqlCounts(t, pg)
	received := strings.Count(exim.MainLog(), " <= ")
	want := fmt.Sprintf("msg:delivery|mta1|%[1]d\nmsg:delivery|mta2|%[1]d\nmsg:fail:delivery|mta1|1\nmsg:fail:delivery|mta2|1\nmsg:host:defer|mta1|1\nmsg:host:defer|mta2|1", n-1)
	if counts != want || received != 2*(n-1) {
		t.Fatalf("rows\n%s\nwant\n%s\nexim received %d", counts, want, received)
	}
}

func TestInteropSQLite(t *testing.T) {
	exim := interop.StartExim(t, "")
	const n = 25
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open("sqlite:"+path, &sqlsink.Options{BatchSize: 7, FlushInterval: 20 * time.Millisecond, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	instance(t, "mta1", s, interop.Addr(exim.Port), n)
	exim.WaitMessages(n-1, 20*time.Second)
	if err := s.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := map[string]int{}
	rows, err := db.Query("SELECT event, count(*) FROM record_delivery GROUP BY event")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var ev string
		var c int
		rows.Scan(&ev, &c)
		got[ev] = c
	}
	rows.Close()
	var errno int
	db.QueryRow("SELECT errno FROM record_delivery WHERE event = 'msg:host:defer'").Scan(&errno)
	received := strings.Count(exim.MainLog(), " <= ")
	if got["msg:delivery"] != n-1 || got["msg:fail:delivery"] != 1 || got["msg:host:defer"] != 1 || len(got) != 3 || received != n-1 || errno != int(syscall.ECONNREFUSED) {
		t.Fatalf("rows %v (errno %d), exim received %d", got, errno, received)
	}
}

// startPostgres runs interop.StartPostgres.
func startPostgres(t *testing.T) string {
	t.Helper()
	return interop.StartPostgres(t)
}

// psqlCounts counts the rows per event and writer with Debian's psql, a
// reader independent of the sink's driver.
func psqlCounts(t *testing.T, url string) string {
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/psql")
	psql := "psql"
	if len(m) > 0 {
		psql = m[len(m)-1]
	}
	out, err := interop.Run(t, 20*time.Second, psql, "-d", url, "-Atc",
		`SELECT event, split_part(sender_domain, '.', 1), count(*) FROM record_delivery GROUP BY 1, 2 ORDER BY 1, 2`)
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	return strings.TrimSpace(out)
}
