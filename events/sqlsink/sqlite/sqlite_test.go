package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/events"
	"github.com/smtpkit/smtpkit/events/sqlsink"
	"github.com/smtpkit/smtpkit/events/sqlsink/internal/sinktest"
	"github.com/smtpkit/smtpkit/events/sqlsink/sqlite"
)

func openSQLite(t *testing.T, opts *sqlsink.Options) (*sqlsink.Sink, string) {
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open("sqlite:"+path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s, path
}

func TestSQLiteRows(t *testing.T) {
	s, path := openSQLite(t, &sqlsink.Options{BatchSize: 7, FlushInterval: time.Hour})
	ctx := sinktest.Ctx(t)
	for i := range 50 {
		if err := s.HandleEvent(ctx, sinktest.Delivery(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Not recorded by default.
	s.HandleEvent(ctx, events.Event{Name: events.TCPConnect})
	s.HandleEvent(ctx, events.Event{Name: events.MsgComplete, MessageID: "x"})
	s.HandleEvent(ctx, events.Event{Name: events.MsgHostDefer, MessageID: "msg-d", Data: "connection refused", DeferErrno: 111})
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Written != 51 || st.Dropped != 0 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
	if n := sinktest.Count(t, path, ""); n != 51 {
		t.Fatalf("%d rows", n)
	}
	db, _ := sql.Open("sqlite", "file:"+path)
	defer db.Close()
	var (
		tm, event, id, sl, sd, lp, dom, host, ha, sa, conf string
		port, errno                                        int
	)
	err := db.QueryRow(`SELECT time, event, message_id, sender_local_part, sender_domain, local_part, domain,
		host, host_address, host_port, sending_address, confirmation, errno
		FROM record_delivery WHERE message_id = 'msg-0042'`).Scan(&tm, &event, &id, &sl, &sd, &lp, &dom, &host, &ha, &port, &sa, &conf, &errno)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintln(tm, event, id, sl, sd, lp, dom, host, ha, port, sa, conf, errno)
	want := "2026-01-02T03:04:05.000000Z msg:delivery msg-0042 Alice x.test rcpt42 y.test mx.y.test 192.0.2.1 25 198.51.100.7:40000 250 2.0.0 OK id=42 0\n"
	if got != want {
		t.Fatalf("row\n%s\nwant\n%s", got, want)
	}
	if err := db.QueryRow("SELECT errno FROM record_delivery WHERE event = 'msg:host:defer'").Scan(&errno); err != nil || errno != 111 {
		t.Fatalf("defer row: %v %d", err, errno)
	}
	// Close, then a second sink on the same file appends.
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s.HandleEvent(ctx, sinktest.Delivery(99)) // after Close: ignored
	s2, err := sqlite.Open("sqlite:"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s2.HandleEvent(ctx, sinktest.Delivery(100))
	if err := s2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := sinktest.Count(t, path, ""); n != 52 {
		t.Fatalf("%d rows after reopening", n)
	}
}

// Open takes only "sqlite:" with a file name, and refuses before opening
// anything.
func TestOpenRefuses(t *testing.T) {
	for _, dsn := range []string{"", "sqlite:", "SQLITE:x.db", "sqlite", "file:x.db", "postgres://u@127.0.0.1/x", " sqlite:x.db"} {
		if sqlite.Accepts(dsn) != strings.HasPrefix(dsn, "sqlite:") {
			t.Errorf("Accepts(%q) = %v", dsn, sqlite.Accepts(dsn))
		}
		if s, err := sqlite.Open(dsn, nil); err == nil {
			s.Close(context.Background())
			t.Errorf("Open(%q) succeeded", dsn)
		}
	}
	if _, err := sqlite.Open("sqlite:"+filepath.Join(t.TempDir(), "x.db"), &sqlsink.Options{Table: "a b"}); err == nil {
		t.Error("bad table name accepted")
	}
}

// Query parameters of the name reach the driver with the sink's own: the
// file still opens in WAL mode, and its driver says SQLite.
func TestOpenWithParameters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open("sqlite:"+path+"?_txlock=immediate", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := sinktest.Ctx(t)
	s.HandleEvent(ctx, sinktest.Delivery(7))
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || !strings.EqualFold(mode, "wal") {
		t.Fatalf("journal_mode %q %v", mode, err)
	}
	if n := sinktest.Count(t, path, "WHERE message_id = 'msg-0007'"); n != 1 {
		t.Fatalf("%d rows", n)
	}
	if d, err := sqlsink.DetectDialect(db); d != sqlsink.SQLite || err != nil {
		t.Fatalf("DetectDialect: %v %v", d, err)
	}
}
