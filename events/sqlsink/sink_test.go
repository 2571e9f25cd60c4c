package sqlsink_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite" // driver "sqlite", linked by the tests only

	"github.com/smtpkit/smtpkit/events"
	"github.com/smtpkit/smtpkit/events/sqlsink"
	"github.com/smtpkit/smtpkit/events/sqlsink/internal/sinktest"
)

// syncBuffer is a log destination safe for the writer goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// flaky is a database that can be down: its writes fail at once, or hang
// until their context ends.
type flaky struct {
	sqlsink.DB
	down  atomic.Bool
	hang  atomic.Bool
	calls atomic.Int32
}

func (f *flaky) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	f.calls.Add(1)
	if f.hang.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if f.down.Load() {
		return nil, errors.New("connection refused")
	}
	return f.DB.ExecContext(ctx, q, args...)
}

func sqliteDB(t *testing.T) (*sql.DB, string) {
	path := filepath.Join(t.TempDir(), "events.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db, path
}

func TestOutageRetriedAndDropOldest(t *testing.T) {
	db, path := sqliteDB(t)
	f := &flaky{DB: db}
	f.down.Store(true)
	var logs syncBuffer
	s, err := sqlsink.New(f, sqlsink.SQLite, &sqlsink.Options{
		BatchSize: 5, BufferSize: 20, FlushInterval: 5 * time.Millisecond, RetryInterval: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	ctx := sinktest.Ctx(t)
	start := time.Now()
	for i := range 100 {
		s.HandleEvent(ctx, sinktest.Delivery(i))
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("100 events took %v with the database down", d)
	}
	for f.calls.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	st := s.Stats()
	// At most BufferSize waiting plus one batch in flight.
	if st.Pending > 25 || st.Dropped != uint64(100-st.Pending) || st.Written != 0 {
		t.Fatalf("stats during the outage %+v", st)
	}
	f.down.Store(false)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st = s.Stats()
	if st.Written+st.Dropped != 100 || st.Pending != 0 {
		t.Fatalf("stats after the outage %+v", st)
	}
	if n := sinktest.Count(t, path, ""); n != int(st.Written) {
		t.Fatalf("%d rows, %d written", n, st.Written)
	}
	// The newest rows survived: drop-oldest.
	if n := sinktest.Count(t, path, "WHERE message_id >= 'msg-0080'"); n != 20 {
		t.Fatalf("%d of the 20 newest rows kept", n)
	}
	l := logs.String()
	for _, want := range []string{"database write failed, retrying", "connection refused", "database buffer full, dropping the oldest rows", "database write works again"} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q:\n%s", want, l)
		}
	}
	if strings.Count(l, "level=ERROR") != 1 || strings.Count(l, "dropping the oldest") != 1 {
		t.Errorf("outage and drops should be logged once each:\n%s", l)
	}
}

func TestCloseGivesUpWhenTheDatabaseHangs(t *testing.T) {
	db, _ := sqliteDB(t)
	f := &flaky{DB: db}
	f.hang.Store(true)
	s, err := sqlsink.New(f, sqlsink.SQLite, &sqlsink.Options{FlushInterval: time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s.HandleEvent(context.Background(), sinktest.Delivery(1))
	s.HandleEvent(context.Background(), sinktest.Delivery(2))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Close(ctx)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "2 rows not written") {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if err := s.Flush(context.Background()); err == nil {
		t.Fatal("Flush after Close succeeded with rows lost")
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestOptions(t *testing.T) {
	db, _ := sqliteDB(t)
	if _, err := sqlsink.New(db, sqlsink.SQLite, &sqlsink.Options{Table: "x; DROP TABLE y"}); err == nil {
		t.Fatal("bad table name accepted")
	}
	if _, err := sqlsink.New(db, 0, nil); err == nil {
		t.Fatal("no dialect accepted")
	}
	// Other events and another table.
	s, err := sqlsink.New(db, sqlsink.SQLite, &sqlsink.Options{Table: "ev", Events: []events.Name{events.MsgComplete}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := sinktest.Ctx(t)
	s.HandleEvent(ctx, events.Event{Name: events.MsgComplete, MessageID: "m", Time: time.Now()})
	s.HandleEvent(ctx, sinktest.Delivery(1))
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM ev WHERE event = 'msg:complete' AND sender_local_part = ''").Scan(&n); err != nil || n != 1 {
		t.Fatalf("%v %d", err, n)
	}
	if sqlsink.SQLite.String() != "sqlite" || sqlsink.Postgres.String() != "postgres" {
		t.Fatal("Dialect.String")
	}
}

func BenchmarkHandleEvent(b *testing.B) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	s, err := sqlsink.New(db, sqlsink.SQLite, nil)
	if err != nil {
		b.Fatal(err)
	}
	ev := sinktest.Delivery(1)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s.HandleEvent(ctx, ev)
	}
	b.StopTimer()
	if err := s.Close(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWrite measures rows per second into SQLite, batched.
func BenchmarkWrite(b *testing.B) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "b.db")+"?_pragma=journal_mode(WAL)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	s, err := sqlsink.New(db, sqlsink.SQLite, nil)
	if err != nil {
		b.Fatal(err)
	}
	ev := sinktest.Delivery(1)
	ctx := context.Background()
	for b.Loop() {
		s.HandleEvent(ctx, ev)
	}
	if err := s.Close(ctx); err != nil {
		b.Fatal(err)
	}
	if st := s.Stats(); st.Written+st.Dropped != uint64(b.N) {
		b.Fatalf("%+v for %d", st, b.N)
	}
}
