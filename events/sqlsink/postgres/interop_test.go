//go:build interop

package postgres_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/events/sqlsink"
	"github.com/smtpkit/smtpkit/events/sqlsink/internal/sinktest"
	"github.com/smtpkit/smtpkit/events/sqlsink/postgres"
	"github.com/smtpkit/smtpkit/internal/interop"
)

// A program's own pgx database, its dialect detected from the driver:
// the Sink writes PostgreSQL's table (time as TIMESTAMPTZ) and leaves the
// database open for the program.
func TestInteropSinkOnOwnDB(t *testing.T) {
	url := interop.StartPostgres(t)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d, err := sqlsink.DetectDialect(db)
	if err != nil || d != sqlsink.Postgres {
		t.Fatalf("DetectDialect: %v %v", d, err)
	}
	s, err := sqlsink.New(db, d, &sqlsink.Options{BatchSize: 2, FlushInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := sinktest.Ctx(t)
	for i := range 5 {
		s.HandleEvent(ctx, sinktest.Delivery(i))
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	var typ string
	var tm time.Time
	if err := db.QueryRowContext(ctx, `SELECT count(*), min(pg_typeof(time)::text), min(time) FROM record_delivery WHERE sender_domain = 'x.test'`).Scan(&n, &typ, &tm); err != nil {
		t.Fatal(err)
	}
	if n != 5 || typ != "timestamp with time zone" || !tm.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("%d rows, time %s %v", n, typ, tm)
	}
}

// postgres.Open against a real server: the row arrives.
func TestInteropSinkOpen(t *testing.T) {
	url := interop.StartPostgres(t)
	s, err := postgres.Open(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := sinktest.Ctx(t)
	s.HandleEvent(ctx, sinktest.Delivery(1))
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Written != 1 {
		t.Fatalf("stats %+v", st)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
