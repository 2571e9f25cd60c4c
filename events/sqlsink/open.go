package sqlsink

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // driver "sqlite"
)

// Open opens the database that dsn names and returns a Sink that owns it
// (Close closes it):
//
//   - "sqlite:PATH" opens (and creates) the SQLite file PATH with
//     modernc.org/sqlite (no cgo), in WAL mode with a busy timeout, so
//     that readers do not block the writer;
//   - "postgres://..." or "postgresql://..." connects with pgx
//     (github.com/jackc/pgx/v5), the URL as libpq takes it; the
//     connection is made on the first write and made again after it
//     broke.
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
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("sqlsink: %w", err)
		}
		p := &pgConn{cfg: cfg}
		return own(p, Postgres, opts, p.close)
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

// pgConn is one pgx connection, made when needed and again after it broke.
// Only the writer goroutine uses it, and close after the writer stopped.
type pgConn struct {
	cfg  *pgx.ConnConfig
	mu   sync.Mutex
	conn *pgx.Conn
}

func (p *pgConn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil || p.conn.IsClosed() {
		c, err := pgx.ConnectConfig(ctx, p.cfg)
		if err != nil {
			return nil, err
		}
		p.conn = c
	}
	tag, err := p.conn.Exec(ctx, query, args...)
	if err != nil {
		if ctx.Err() != nil || p.conn.PgConn().IsBusy() {
			// An interrupted exchange leaves the connection out of step.
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			p.conn.Close(cctx)
			cancel()
			p.conn = nil
		}
		return nil, err
	}
	return driver.RowsAffected(tag.RowsAffected()), nil
}

func (p *pgConn) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.conn.Close(ctx)
	p.conn = nil
	return err
}
