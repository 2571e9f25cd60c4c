package sqlsink

import (
	"database/sql"
	"fmt"
	"reflect"
	"strings"
)

// OpenDB is New for a database the Sink owns: its Close closes db too, and
// so does a failed OpenDB. The subpackages sqlsink/sqlite and
// sqlsink/postgres open their database and hand it over this way.
func OpenDB(db *sql.DB, dialect Dialect, opts *Options) (*Sink, error) {
	s, err := New(db, dialect, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.closeDB = db.Close
	return s, nil
}

// drivers maps the Go package of a database/sql driver (or the module it
// is under) to the dialect its database speaks.
var drivers = []struct {
	pkg     string
	dialect Dialect
}{
	{"modernc.org/sqlite", SQLite},
	{"github.com/mattn/go-sqlite3", SQLite},
	{"github.com/ncruces/go-sqlite3", SQLite},
	{"github.com/glebarez/go-sqlite", SQLite},
	{"github.com/jackc/pgx", Postgres}, // v4/stdlib, v5/stdlib
	{"github.com/lib/pq", Postgres},
}

// DetectDialect tells the dialect of db from the Go package of its driver,
// without connecting and without importing any driver:
//
//   - SQLite for modernc.org/sqlite, github.com/mattn/go-sqlite3,
//     github.com/ncruces/go-sqlite3 and github.com/glebarez/go-sqlite;
//   - Postgres for github.com/jackc/pgx (stdlib, v4 or v5) and
//     github.com/lib/pq.
//
// Any other driver (a wrapper that traces or counts queries, for instance)
// is an error rather than a guess: pass the dialect to New yourself.
func DetectDialect(db *sql.DB) (Dialect, error) {
	drv := db.Driver()
	t := reflect.TypeOf(drv)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil {
		if d, ok := dialectOf(t.PkgPath()); ok {
			return d, nil
		}
	}
	return 0, fmt.Errorf("sqlsink: no known dialect for driver %T; give it to New", drv)
}

// dialectOf is the dialect of a driver in the Go package pkg.
func dialectOf(pkg string) (Dialect, bool) {
	for _, d := range drivers {
		if pkg == d.pkg || strings.HasPrefix(pkg, d.pkg+"/") {
			return d.dialect, true
		}
	}
	return 0, false
}
