package sqlsink_test

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/events/sqlsink"
	"github.com/smtpkit/smtpkit/events/sqlsink/internal/sinktest"
)

// otherDriver is a database/sql driver of no known database, as a wrapper
// that traces queries would be.
type otherDriver struct{}

func (otherDriver) Open(string) (driver.Conn, error) { return nil, errors.New("no database here") }

func init() { sql.Register("sqlsink-test-other", otherDriver{}) }

func TestDetectDialect(t *testing.T) {
	db, _ := sqliteDB(t)
	if d, err := sqlsink.DetectDialect(db); d != sqlsink.SQLite || err != nil {
		t.Fatalf("modernc.org/sqlite: %v %v", d, err)
	}
	other, err := sql.Open("sqlsink-test-other", "")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	d, err := sqlsink.DetectDialect(other)
	if d != 0 || err == nil || !strings.Contains(err.Error(), "otherDriver") {
		t.Fatalf("unknown driver: %v %v, want an error naming it", d, err)
	}
	// What DetectDialect could not tell, New refuses too.
	if _, err := sqlsink.New(other, d, nil); err == nil {
		t.Fatal("New took the zero dialect")
	}
}

// A Sink from OpenDB closes its database, on Close and when OpenDB fails;
// one from New leaves it to the caller.
func TestOpenDBOwnsTheDatabase(t *testing.T) {
	db, path := sqliteDB(t)
	if _, err := sqlsink.OpenDB(db, sqlsink.SQLite, &sqlsink.Options{Table: "no-dashes"}); err == nil {
		t.Fatal("bad table name accepted")
	}
	if err := db.Ping(); err == nil {
		t.Fatal("a failed OpenDB left its database open")
	}

	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlsink.OpenDB(db, sqlsink.SQLite, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := sinktest.Ctx(t)
	s.HandleEvent(ctx, sinktest.Delivery(1))
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(); err == nil {
		t.Fatal("Close left the database open")
	}
	if n := sinktest.Count(t, path, ""); n != 1 {
		t.Fatalf("%d rows", n)
	}
}

// The package links no database driver: a program that opens its own
// *sql.DB pays only for database/sql. Each subpackage links its own driver
// and not the other's.
func TestNoDriverImported(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to list the imports: %v", err)
	}
	const pkg = "github.com/smtpkit/smtpkit/events/sqlsink"
	drivers := []string{"modernc.org/sqlite", "github.com/jackc/pgx", "github.com/lib/pq", "github.com/mattn/go-sqlite3"}
	for _, c := range []struct {
		pkg, want string
		deny      []string
	}{
		{pkg, "database/sql", drivers},
		{pkg + "/sqlite", "modernc.org/sqlite", drivers[1:]},
		{pkg + "/postgres", "github.com/jackc/pgx/v5/stdlib", []string{drivers[0], drivers[2], drivers[3]}},
	} {
		cmd := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", c.pkg)
		out, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("go list %s: %v\n%s", c.pkg, err, ee.Stderr)
			}
			t.Fatalf("go list %s: %v", c.pkg, err)
		}
		deps := strings.Fields(string(out))
		found := false
		linked := map[string][]string{}
		for _, d := range deps {
			found = found || d == c.want
			for _, bad := range c.deny {
				if d == bad || strings.HasPrefix(d, bad+"/") {
					linked[bad] = append(linked[bad], d)
				}
			}
		}
		for _, bad := range c.deny {
			if l := linked[bad]; len(l) > 0 {
				t.Errorf("%s links the driver %s (%d packages: %s...)", c.pkg, bad, len(l), l[0])
			}
		}
		if !found {
			t.Errorf("%s does not import %s; deps:\n%s", c.pkg, c.want, out)
		}
	}
}
