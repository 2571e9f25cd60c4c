package sqlsink

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/smtpkit/smtpkit/events"
)

// Defaults for Options.
const (
	DefaultTable         = "record_delivery"
	DefaultBatchSize     = 100
	DefaultBufferSize    = 10000
	DefaultFlushInterval = time.Second
	DefaultRetryInterval = time.Second
	// MaxRetryInterval caps the doubling wait between attempts while the
	// database is unreachable.
	MaxRetryInterval = 30 * time.Second
	// InsertTimeout bounds one batch INSERT.
	InsertTimeout = 30 * time.Second
)

// Options configures a Sink. A nil *Options means all defaults.
type Options struct {
	// Table is the table's name (letters, digits, underscores); default
	// DefaultTable. It is created when missing.
	Table string
	// BatchSize is the most rows one INSERT carries; default
	// DefaultBatchSize. A full batch is written at once, a partial one
	// after FlushInterval.
	BatchSize int
	// BufferSize is the most rows waiting to be written; default
	// DefaultBufferSize. When it is full (the database is down or slower
	// than the mail) the oldest waiting row is dropped for each new one,
	// counted in Stats.Dropped and logged.
	BufferSize int
	// FlushInterval is the longest a row waits for its batch to fill;
	// default DefaultFlushInterval.
	FlushInterval time.Duration
	// RetryInterval is the first wait after a failed INSERT; it doubles
	// up to MaxRetryInterval while the database stays unreachable.
	// Default DefaultRetryInterval.
	RetryInterval time.Duration
	// Events lists the events recorded; default msg:delivery,
	// msg:rcpt:host:defer, msg:host:defer and msg:fail:delivery.
	Events []events.Name
	// Logger receives outages, recoveries and drops; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Stats counts rows.
type Stats struct {
	Written uint64 // inserted
	Dropped uint64 // dropped because the buffer was full
	Pending int    // waiting, including a batch being written
}

// DB is what the sink needs of a database; *sql.DB has it, with any
// driver the caller imports (modernc.org/sqlite's "sqlite", pgx's "pgx"
// from github.com/jackc/pgx/v5/stdlib...). Only the sink's writer
// goroutine calls it.
type DB interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Sink is an events.Handler that records delivery events in a table.
// HandleEvent only queues a row; one goroutine writes batches, so a slow
// or unreachable database never holds up a delivery.
type Sink struct {
	db      DB
	closeDB func() error // set by OpenDB
	dialect Dialect
	opts    Options
	record  map[events.Name]bool
	log     *slog.Logger

	mu       sync.Mutex
	queue    []row // waiting rows, oldest first, from head on
	head     int
	inflight int // rows of the batch being written
	queued   uint64
	written  uint64
	dropped  uint64
	dropping bool          // a drop was logged and the buffer has not drained
	progress chan struct{} // closed and replaced when rows are resolved

	kick     chan struct{}
	stop     chan struct{} // Close called
	abort    chan struct{} // Close's context ended: give up
	done     chan struct{} // writer returned
	closing  sync.Once
	aborting sync.Once
}

// New returns a Sink writing to db in dialect and starts its writer. The
// dialect is never guessed here: give SQLite or Postgres, or what
// DetectDialect says of a *sql.DB. The table is created on the first write
// (retried like any write while the database is unreachable). Close stops
// the writer; db stays the caller's (see OpenDB for a Sink that owns it).
func New(db DB, dialect Dialect, opts *Options) (*Sink, error) {
	if dialect != SQLite && dialect != Postgres {
		return nil, fmt.Errorf("sqlsink: unknown dialect %v", dialect)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if !identRE.MatchString(o.Table) {
		return nil, fmt.Errorf("sqlsink: bad table name %q", o.Table)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.BufferSize <= 0 {
		o.BufferSize = DefaultBufferSize
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = DefaultRetryInterval
	}
	if len(o.Events) == 0 {
		o.Events = []events.Name{events.MsgDelivery, events.MsgRcptHostDefer, events.MsgHostDefer, events.MsgFailDelivery}
	}
	s := &Sink{
		db:       db,
		dialect:  dialect,
		opts:     o,
		record:   map[events.Name]bool{},
		log:      o.Logger,
		progress: make(chan struct{}),
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		abort:    make(chan struct{}),
		done:     make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	for _, n := range o.Events {
		s.record[n] = true
	}
	go s.run()
	return s, nil
}

// HandleEvent queues a row for a recorded event and returns at once; it
// never vetoes. After Close it does nothing.
func (s *Sink) HandleEvent(_ context.Context, ev events.Event) error {
	if !s.record[ev.Name] {
		return nil
	}
	r := newRow(&ev, s.dialect)
	s.mu.Lock()
	select {
	case <-s.stop:
		s.mu.Unlock()
		return nil
	default:
	}
	s.queued++
	s.queue = append(s.queue, r)
	if len(s.queue)-s.head > s.opts.BufferSize {
		// Drop the oldest: recent events say more about the present.
		s.head++
		s.dropped++
		if s.head >= s.opts.BufferSize {
			// The writer is stuck on a batch: reclaim the dropped rows'
			// room here.
			s.queue = slices.Delete(s.queue, 0, s.head)
			s.head = 0
		}
		s.resolved()
		if !s.dropping {
			s.dropping = true
			s.log.Warn("events: database buffer full, dropping the oldest rows",
				"buffer", s.opts.BufferSize, "dropped_total", s.dropped)
		}
	}
	full := len(s.queue)-s.head >= s.opts.BatchSize
	s.mu.Unlock()
	if full {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// resolved wakes Flush callers; s.mu is held.
func (s *Sink) resolved() {
	close(s.progress)
	s.progress = make(chan struct{})
}

// Stats returns the sink's counters.
func (s *Sink) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Written: s.written, Dropped: s.dropped, Pending: len(s.queue) - s.head + s.inflight}
}

// Flush waits until every row queued before the call is written (or
// dropped), or ctx ends.
func (s *Sink) Flush(ctx context.Context) error {
	s.mu.Lock()
	target := s.queued
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	for {
		s.mu.Lock()
		ok, wait := s.written+s.dropped >= target, s.progress
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-wait:
		case <-s.done:
			return errors.New("sqlsink: flush: sink closed")
		case <-ctx.Done():
			return fmt.Errorf("sqlsink: flush: %w", ctx.Err())
		}
	}
}

// Close stops taking rows, writes those waiting, retrying until ctx ends,
// and stops the writer. Rows still unwritten then are lost and counted in
// the error. A Sink from OpenDB (so from sqlite.Open and postgres.Open)
// closes its database too.
func (s *Sink) Close(ctx context.Context) error {
	s.closing.Do(func() {
		s.mu.Lock()
		close(s.stop)
		s.mu.Unlock()
	})
	var err error
	select {
	case <-s.done:
	case <-ctx.Done():
		s.aborting.Do(func() { close(s.abort) })
		<-s.done
		err = fmt.Errorf("sqlsink: close: %d rows not written: %w", s.Stats().Pending, ctx.Err())
	}
	if s.closeDB != nil {
		closeDB := s.closeDB
		s.closeDB = nil
		if cerr := closeDB(); cerr != nil && err == nil {
			err = fmt.Errorf("sqlsink: close: %w", cerr)
		}
	}
	return err
}

// run is the writer: it takes batches off the queue and inserts them,
// retrying a failed batch (with a doubling wait) until it is written.
func (s *Sink) run() {
	defer close(s.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.abort:
			cancel()
		case <-ctx.Done():
		}
	}()
	tick := time.NewTicker(s.opts.FlushInterval)
	defer tick.Stop()
	var (
		created bool
		outage  bool
		wait    = s.opts.RetryInterval
		batch   []row // the rows being written, kept until they are
		args    []any
	)
	stopping := false
	for {
		if len(batch) == 0 {
			batch = s.take(batch[:0])
		}
		if len(batch) == 0 {
			if stopping {
				return
			}
			select {
			case <-s.kick:
			case <-tick.C:
			case <-s.stop:
				stopping = true
			case <-s.abort:
				return
			}
			continue
		}
		err := func() error {
			ictx, icancel := context.WithTimeout(ctx, InsertTimeout)
			defer icancel()
			if !created {
				if err := createTable(ictx, s.db, s.dialect, s.opts.Table); err != nil {
					return err
				}
				created = true
			}
			args = args[:0]
			for i := range batch {
				args = batch[i].args(args)
			}
			if _, err := s.db.ExecContext(ictx, insertSQL(s.dialect, s.opts.Table, len(batch)), args...); err != nil {
				return fmt.Errorf("sqlsink: insert %d rows: %w", len(batch), err)
			}
			return nil
		}()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !outage {
				outage = true
				s.log.Error("events: database write failed, retrying", "err", err, "pending", s.Stats().Pending)
			} else {
				s.log.Debug("events: database write failed again", "err", err, "retry_in", wait)
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-s.abort:
				t.Stop()
				return
			}
			wait = min(2*wait, MaxRetryInterval)
			continue
		}
		if outage {
			outage = false
			s.log.Info("events: database write works again", "pending", s.Stats().Pending-len(batch))
		}
		wait = s.opts.RetryInterval
		s.mu.Lock()
		s.written += uint64(len(batch))
		s.inflight = 0
		if s.dropping && len(s.queue)-s.head < s.opts.BufferSize/2 {
			s.dropping = false
		}
		s.resolved()
		s.mu.Unlock()
		batch = batch[:0]
	}
}

// take moves up to BatchSize waiting rows into dst and marks them in
// flight.
func (s *Sink) take(dst []row) []row {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := min(len(s.queue)-s.head, s.opts.BatchSize)
	dst = append(dst, s.queue[s.head:s.head+n]...)
	s.head += n
	s.inflight = n
	if s.head == len(s.queue) {
		s.queue, s.head = s.queue[:0], 0
	} else if s.head > len(s.queue)/2 {
		s.queue = slices.Delete(s.queue, 0, s.head)
		s.head = 0
	}
	return dst
}
