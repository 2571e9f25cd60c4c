package sqlsink

import (
	"context"
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"

	"github.com/smtpkit/smtpkit/events"
)

// Dialect says which SQL the sink speaks: placeholders, the id column,
// the time's type, the advisory lock. It names a database, not a driver.
type Dialect int

const (
	// SQLite: "?" placeholders, time as ISO 8601 text; the embedded
	// store of one MTA (sqlsink/sqlite opens it with modernc.org/sqlite).
	SQLite Dialect = iota + 1
	// Postgres: "$n" placeholders, TIMESTAMPTZ, an advisory lock around
	// CREATE; a store that several MTAs share (sqlsink/postgres opens it
	// with github.com/jackc/pgx/v5/stdlib).
	Postgres
)

func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

// columns of the table, in insert order; see the package documentation.
var columns = []string{
	"time", "event", "message_id",
	"sender_local_part", "sender_domain", "local_part", "domain",
	"host", "host_address", "host_port", "sending_address",
	"confirmation", "errno",
}

// row is one event as stored.
type row struct {
	time                                     any
	event, messageID                         string
	senderLocal, senderDomain, local, domain string
	host, hostAddr                           string
	hostPort                                 int
	sendingAddr                              string
	confirmation                             string
	errno                                    int
}

func newRow(ev *events.Event, d Dialect) row {
	r := row{
		time:         ev.Time.UTC(),
		event:        string(ev.Name),
		messageID:    ev.MessageID,
		local:        ev.LocalPart,
		domain:       ev.Domain,
		host:         ev.Host,
		confirmation: ev.Data,
		errno:        ev.DeferErrno,
	}
	if d == SQLite {
		// An ISO 8601 string sorts and reads the same everywhere
		// (SQLite has no time type; its date functions take this).
		r.time = ev.Time.UTC().Format("2006-01-02T15:04:05.000000Z")
	}
	if ev.Sender != "" {
		r.senderLocal, r.senderDomain = events.SplitAddress(ev.Sender)
	}
	if ev.HostAddr.IsValid() {
		r.hostAddr, r.hostPort = ev.HostAddr.Addr().String(), int(ev.HostAddr.Port())
	}
	if ev.SendingAddr.IsValid() {
		r.sendingAddr = ev.SendingAddr.String()
	}
	return r
}

func (r *row) args(dst []any) []any {
	return append(dst, r.time, r.event, r.messageID,
		r.senderLocal, r.senderDomain, r.local, r.domain,
		r.host, r.hostAddr, r.hostPort, r.sendingAddr,
		r.confirmation, r.errno)
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// createTable creates the table and its index when missing, in one
// multi-statement Exec without arguments: PostgreSQL runs such a simple
// query as one transaction, so the advisory lock taken first is held until
// the end.
func createTable(ctx context.Context, db DB, d Dialect, table string) error {
	id, ts, lock := "id INTEGER PRIMARY KEY", "TEXT", ""
	if d == Postgres {
		// Several MTAs starting at once: CREATE ... IF NOT EXISTS is
		// not safe against a concurrent one in PostgreSQL (a unique
		// violation in pg_type), so the creators take turns.
		h := fnv.New64a()
		h.Write([]byte("smtpkit.events.sqlsink." + table))
		id, ts = "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "TIMESTAMPTZ"
		lock = fmt.Sprintf("SELECT pg_advisory_xact_lock(%d);\n", int64(h.Sum64()))
	}
	q := fmt.Sprintf(`%[1]sCREATE TABLE IF NOT EXISTS %[2]s (
	%[3]s,
	time %[4]s NOT NULL,
	event TEXT NOT NULL,
	message_id TEXT NOT NULL,
	sender_local_part TEXT NOT NULL,
	sender_domain TEXT NOT NULL,
	local_part TEXT NOT NULL,
	domain TEXT NOT NULL,
	host TEXT NOT NULL,
	host_address TEXT NOT NULL,
	host_port INTEGER NOT NULL,
	sending_address TEXT NOT NULL,
	confirmation TEXT NOT NULL,
	errno INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS %[2]s_message_id ON %[2]s (message_id);`, lock, table, id, ts)
	if _, err := db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("sqlsink: create table %s: %w", table, err)
	}
	return nil
}

// insertSQL is a multi-row INSERT for n rows.
func insertSQL(d Dialect, table string, n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(table)
	b.WriteString(" (")
	b.WriteString(strings.Join(columns, ", "))
	b.WriteString(") VALUES ")
	k := 1
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j := range columns {
			if j > 0 {
				b.WriteString(", ")
			}
			if d == Postgres {
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(k))
			} else {
				b.WriteByte('?')
			}
			k++
		}
		b.WriteByte(')')
	}
	return b.String()
}
