package postgres_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/events/sqlsink"
	"github.com/smtpkit/smtpkit/events/sqlsink/postgres"
)

// Open takes only postgres:// and postgresql:// URLs that pgx can parse,
// and says so without echoing the URL (it may hold a password).
func TestOpenRefuses(t *testing.T) {
	for _, dsn := range []string{"", "sqlite:x.db", "mysql://u@h/x", "POSTGRES://u@h/x", "host=127.0.0.1 dbname=x", " postgres://u@h/x", "postgres://u:secret@h:99999999/x", "postgres://u:secret@h/x?sslmode=bogus"} {
		s, err := postgres.Open(dsn, nil)
		if err == nil {
			s.Close(context.Background())
			t.Errorf("Open(%q) succeeded", dsn)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q): %v shows the password", dsn, err)
		}
	}
	if postgres.Accepts("sqlite:x") || !postgres.Accepts("postgresql://h/x") || !postgres.Accepts("postgres://h/x") {
		t.Error("Accepts")
	}
}

// Open connects nothing: a server that is not there is the writer's
// business, and a Sink with no rows closes at once.
func TestOpenDoesNotConnect(t *testing.T) {
	s, err := postgres.Open("postgresql://mta@127.0.0.1:1/mail?connect_timeout=1", &sqlsink.Options{Table: "ev"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Open("postgres://mta@127.0.0.1:1/mail", &sqlsink.Options{Table: "1ev"}); err == nil {
		t.Fatal("bad table name accepted")
	}
}

// pgx's driver, however the database was opened, says Postgres.
func TestDetectDialect(t *testing.T) {
	for _, name := range []string{"pgx", "pgx/v5"} {
		db, err := sql.Open(name, "postgres://mta@127.0.0.1:1/mail")
		if err != nil {
			t.Fatal(err)
		}
		d, err := sqlsink.DetectDialect(db)
		db.Close()
		if d != sqlsink.Postgres || err != nil {
			t.Errorf("%s: %v %v", name, d, err)
		}
	}
}
