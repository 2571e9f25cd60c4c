package sqlsink

import (
	"database/sql"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	_ "modernc.org/sqlite"             // driver "sqlite"
)

// Open opens the database that dsn names and returns a Sink that owns it
// (Close closes it):
//
//   - "sqlite:PATH" opens (and creates) the SQLite file PATH with
//     modernc.org/sqlite (no cgo), in WAL mode with a busy timeout, so
//     that readers do not block the writer;
//   - "postgres://..." or "postgresql://..." opens PostgreSQL through
//     database/sql with pgx's driver (github.com/jackc/pgx/v5/stdlib),
//     the URL as libpq takes it; connections are made on the first
//     write and again after one broke.
//
// Nothing is connected yet: an unreachable database is retried by the
// writer, not an error here.
func Open(dsn string, opts *Options) (*Sink, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, fmt.Errorf("sqlsink: %q: no file name", dsn)
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		db, err := sql.Open("sqlite", "file:"+path+sep+"_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
		if err != nil {
			return nil, fmt.Errorf("sqlsink: open %s: %w", dsn, err)
		}
		// SQLite has one writer at a time; more connections would only
		// wait on each other's locks.
		db.SetMaxOpenConns(1)
		return own(db, SQLite, opts, db.Close)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		if _, err := pgx.ParseConfig(dsn); err != nil {
			return nil, fmt.Errorf("sqlsink: %w", err)
		}
		// database/sql through pgx's stdlib driver: the pool connects on
		// the first write and again after a connection broke.
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("sqlsink: open: %w", err)
		}
		db.SetMaxOpenConns(2)
		return own(db, Postgres, opts, db.Close)
	}
	return nil, fmt.Errorf("sqlsink: %q: want sqlite:PATH or a postgres:// URL", dsn)
}

func own(db DB, d Dialect, opts *Options, closeDB func() error) (*Sink, error) {
	s, err := New(db, d, opts)
	if err != nil {
		closeDB()
		return nil, err
	}
	s.closeDB = closeDB
	return s, nil
}
