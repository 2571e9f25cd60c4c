package sqlsink

import "testing"

// A driver's package names its dialect only on a path boundary: a module
// whose name merely starts like a known one, or that vendors a known one
// under its own path, is not taken for it.
func TestDialectOfPackage(t *testing.T) {
	for pkg, want := range map[string]Dialect{
		"modernc.org/sqlite":                   SQLite,
		"modernc.org/sqlite/lib":               SQLite,
		"github.com/mattn/go-sqlite3":          SQLite,
		"github.com/ncruces/go-sqlite3/driver": SQLite,
		"github.com/jackc/pgx/v5/stdlib":       Postgres,
		"github.com/jackc/pgx/v4/stdlib":       Postgres,
		"github.com/lib/pq":                    Postgres,
		"modernc.org/sqlitex":                  0,
		"github.com/jackc/pgxmock":             0,
		"github.com/lib/pqx":                   0,
		"example.com/x/modernc.org/sqlite":     0,
		"github.com/go-sql-driver/mysql":       0,
		"":                                     0,
	} {
		got, ok := dialectOf(pkg)
		if got != want || ok != (want != 0) {
			t.Errorf("dialectOf(%q) = %v, %v; want %v", pkg, got, ok, want)
		}
	}
}
