// Package sqlite opens an SQLite file for package events/sqlsink with
// modernc.org/sqlite (pure Go, no cgo), the embedded store of one MTA.
// Importing it links that driver and registers it as "sqlite" in
// database/sql; a program that opens its own *sql.DB needs only
// events/sqlsink.
package sqlite

import (
	"database/sql"
	"fmt"
	"strings"

	"github.com/smtpkit/smtpkit/events/sqlsink"

	_ "modernc.org/sqlite" // driver "sqlite"
)

const prefix = "sqlite:"

// busyTimeout is how long (milliseconds) a connection waits for another
// process's lock on the file before failing; the sink's writer then
// retries the batch.
const busyTimeout = 5000

// Accepts says whether dsn is a name that Open takes: "sqlite:PATH".
func Accepts(dsn string) bool {
	return strings.HasPrefix(dsn, prefix)
}

// Open opens (and creates) the SQLite file that "sqlite:PATH" names, in
// WAL mode so that readers do not block the writer, and returns a Sink
// that owns it (sqlsink.OpenDB: Close closes it). PATH may carry
// modernc.org/sqlite's query parameters ("sqlite:events.db?_txlock=immediate").
//
// Nothing is written yet: the table is created on the first write.
func Open(dsn string, opts *sqlsink.Options) (*sqlsink.Sink, error) {
	path, ok := strings.CutPrefix(dsn, prefix)
	if !ok {
		return nil, fmt.Errorf("sqlsink: %q: want sqlite:PATH", dsn)
	}
	if path == "" {
		return nil, fmt.Errorf("sqlsink: %q: no file name", dsn)
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	db, err := sql.Open("sqlite", fmt.Sprintf("file:%s%s_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)", path, sep, busyTimeout))
	if err != nil {
		return nil, fmt.Errorf("sqlsink: open %s: %w", dsn, err)
	}
	// SQLite has one writer at a time; more connections would only wait
	// on each other's locks.
	db.SetMaxOpenConns(1)
	return sqlsink.OpenDB(db, sqlsink.SQLite, opts)
}
