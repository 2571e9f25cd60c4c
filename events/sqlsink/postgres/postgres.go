// Package postgres opens a PostgreSQL database for package events/sqlsink
// with pgx's database/sql driver (github.com/jackc/pgx/v5/stdlib), the
// store that several MTAs share. Importing it links that driver and
// registers it as "pgx" in database/sql; a program that opens its own
// *sql.DB needs only events/sqlsink.
package postgres

import (
	"database/sql"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"

	"github.com/smtpkit/smtpkit/events/sqlsink"
)

// maxOpenConns bounds the connections of a Sink from Open: one writer
// goroutine uses them, a second covers a connection being replaced.
const maxOpenConns = 2

// Accepts says whether dsn is a URL that Open takes: "postgres://" or
// "postgresql://".
func Accepts(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open opens the PostgreSQL database of a "postgres://" or
// "postgresql://" URL (as libpq takes it) and returns a Sink that owns it
// (sqlsink.OpenDB: Close closes it).
//
// Nothing is connected yet: the pool connects on the first write and again
// after a connection broke, and an unreachable database is retried by the
// writer, not an error here.
func Open(dsn string, opts *sqlsink.Options) (*sqlsink.Sink, error) {
	if !Accepts(dsn) {
		return nil, fmt.Errorf("sqlsink: want a postgres:// URL")
	}
	if _, err := pgx.ParseConfig(dsn); err != nil {
		return nil, fmt.Errorf("sqlsink: %w", err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlsink: open: %w", err)
	}
	db.SetMaxOpenConns(maxOpenConns)
	return sqlsink.OpenDB(db, sqlsink.Postgres, opts)
}
